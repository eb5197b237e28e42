package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"

	"github.com/paddockhq/paddock/client"
)

func runImage(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	usage := func() error {
		fmt.Fprintln(stderr, "Usage: paddock image pull REF | import FILE [--name NAME] | build NAME --packages a,b [--suite S] | snapshot ENV_ID NAME | ls | rm REF")
		return errUsage
	}
	if len(args) == 0 {
		return usage()
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	bar := newProgress(stderr)
	var img *client.Image
	switch args[0] {
	case "pull":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return usage()
		}
		img, err = c.PullImage(ctx, args[1], bar.report)
	case "import":
		fs := flag.NewFlagSet("image import", flag.ContinueOnError)
		fs.SetOutput(stderr)
		name := fs.String("name", "", "image name (default: the tag in the archive)")
		var file string
		if file, err = parseOperand(fs, args[1:]); err != nil || file == "" || fs.NArg() > 0 {
			return usage()
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		img, err = c.ImportImage(ctx, *name, f, bar.report)
		if err != nil {
			bar.finish()
			return err
		}
	case "build":
		fs := flag.NewFlagSet("image build", flag.ContinueOnError)
		fs.SetOutput(stderr)
		packages := fs.String("packages", "", "Debian packages to install, comma separated")
		suite := fs.String("suite", "", "Debian suite (default bookworm)")
		var name string
		if name, err = parseOperand(fs, args[1:]); err != nil || name == "" || fs.NArg() > 0 {
			return usage()
		}
		var pkgs []string
		for _, p := range strings.Split(*packages, ",") {
			if p = strings.TrimSpace(p); p != "" {
				pkgs = append(pkgs, p)
			}
		}
		img, err = c.BuildImage(ctx, name, pkgs, *suite, bar.report)
	case "snapshot":
		if len(args) != 3 || strings.HasPrefix(args[1], "-") || strings.HasPrefix(args[2], "-") {
			return usage()
		}
		img, err = c.SnapshotEnvironment(ctx, args[1], args[2], bar.report)
	case "ls":
		imgs, err := c.Images(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tSOURCE\tAGE")
		for _, i := range imgs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, shortDigest(i.Digest), humanBytes(i.Size), i.Source, age(i.CreatedAt))
		}
		return tw.Flush()
	case "rm":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return usage()
		}
		if err := c.RemoveImage(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, args[1])
		return nil
	default:
		return usage()
	}
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s (%s)\n", img.Name, shortDigest(img.Digest), humanBytes(img.Size))
	return nil
}

// progress draws a byte progress bar for download and unpack phases and
// prints other phases' messages as lines.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	phase string
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

func (p *progress) report(ev client.ImageProgress) {
	if ev.Phase != p.phase {
		p.finish()
		p.phase = ev.Phase
		if ev.Phase == "download" || ev.Phase == "unpack" {
			total := ev.Total
			if total <= 0 {
				total = -1
			}
			p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionShowBytes(true),
				progressbar.OptionSetDescription(ev.Phase), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100e6),
				progressbar.OptionClearOnFinish())
		}
	}
	if p.bar != nil {
		_ = p.bar.Set64(ev.Current)
		return
	}
	if ev.Message != "" {
		fmt.Fprintf(p.w, "%s: %s\n", ev.Phase, ev.Message)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
