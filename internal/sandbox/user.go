package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/paddockhq/paddock"
)

// ResolveUser returns the uid and gid an environment's processes run as:
// the security context's run_as_user/run_as_group, else the image's User
// ("name", "uid", "uid:gid", "name:group", resolved against the image's
// /etc/passwd and /etc/group), else root. Unknown names are EInvalid.
func ResolveUser(env *paddock.Environment, img *paddock.Image) (uid, gid int64, err error) {
	var sc paddock.SecurityContext
	if env != nil && env.Isolation.SecurityContext != nil {
		sc = *env.Isolation.SecurityContext
	}
	if img != nil && img.Config.User != "" {
		uid, gid, err = parseImageUser(img.RootFS, img.Config.User)
		if err != nil {
			return 0, 0, err
		}
	}
	if sc.RunAsUser != nil {
		uid = *sc.RunAsUser
		if sc.RunAsGroup == nil && (img == nil || img.Config.User == "") {
			gid = uid
		}
	}
	if sc.RunAsGroup != nil {
		gid = *sc.RunAsGroup
	}
	if uid < 0 || uid > 65535 || gid < 0 || gid > 65535 {
		return 0, 0, paddock.Errorf(paddock.EInvalid, "user %d:%d is outside the environment's range 0-65535", uid, gid)
	}
	return uid, gid, nil
}

func parseImageUser(rootfs, spec string) (int64, int64, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, gid, err := lookupID(rootfs, "etc/passwd", user, true)
	if err != nil {
		return 0, 0, err
	}
	if hasGroup {
		gid, _, err = lookupID(rootfs, "etc/group", group, false)
		if err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// lookupID resolves a numeric id or a name in a passwd or group file. For
// passwd it also returns the user's primary gid.
func lookupID(rootfs, file, name string, passwd bool) (int64, int64, error) {
	if n, err := strconv.ParseInt(name, 10, 64); err == nil {
		gid := int64(0)
		if passwd {
			// A numeric user keeps its passwd group if it has one.
			if _, g, err := scanIDFile(rootfs, file, func(f []string) bool { return f[2] == name }); err == nil {
				gid = g
			}
		}
		return n, gid, nil
	}
	id, gid, err := scanIDFile(rootfs, file, func(f []string) bool { return f[0] == name })
	if err != nil {
		return 0, 0, paddock.Errorf(paddock.EInvalid, "image user %q: not found in /%s", name, file)
	}
	return id, gid, nil
}

func scanIDFile(rootfs, file string, match func([]string) bool) (int64, int64, error) {
	if rootfs == "" {
		return 0, 0, fmt.Errorf("no rootfs")
	}
	// OpenInRoot: an image may symlink /etc/passwd anywhere; never follow
	// it out of the image onto the host.
	f, err := os.OpenInRoot(rootfs, file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || !match(fields) {
			continue
		}
		id, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			continue
		}
		var gid int64
		if len(fields) > 3 {
			gid, _ = strconv.ParseInt(fields[3], 10, 64)
		}
		return id, gid, nil
	}
	return 0, 0, fmt.Errorf("not found")
}
