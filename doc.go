// Package paddock holds the domain of Paddock, a self-hosted platform for
// running AI agents that act inside isolated sandboxes.
//
// The glossary:
//
//   - User: who calls; role admin or user. Every resource has an owner; users
//     see only their own resources, admins see all.
//   - APIKey: a long-lived credential (prefix "pdk_"), stored only as a hash,
//     shown once, with an optional expiry and optional per-environment
//     permissions read < write < admin.
//   - Environment (= sandbox): an isolated container made from an Image, with
//     resources, env, labels, a lifetime and isolation settings.
//   - Image: an OCI image in the local store, pulled, imported or built.
//
// This package imports only the standard library. Implementations live in
// internal/ and speak in these types; only cmd/paddock wires them together.
package paddock
