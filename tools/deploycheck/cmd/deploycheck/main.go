// Command deploycheck validates deployment files offline with the parsers Docker itself uses.
//
//	deploycheck dockerfile FILE...   lint Dockerfiles like `docker build --check` (BuildKit's
//	                                 dockerfile2llb.DockerfileLint); base images are not pulled
//	deploycheck compose FILE         load a compose file like `docker compose config`
//	                                 (compose-go: schema, interpolation, merges) and print the
//	                                 normalized project as JSON
//
// Both print JSON on stdout and exit 1 when something is wrong, 2 on usage errors.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/opencontainers/go-digest"
)

// offlineImages answers every base image lookup with a minimal linux/amd64 image config, so
// the Dockerfile is dispatched completely without contacting a registry.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(
	_ context.Context, ref string, _ sourceresolver.Opt,
) (string, digest.Digest, []byte, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},` +
		`"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`)
	return ref, digest.FromBytes(config), config, nil
}

type finding struct {
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
	Line   int32  `json:"line"`
}

type dockerfileReport struct {
	File     string    `json:"file"`
	Warnings []finding `json:"warnings"`
	Error    string    `json:"error,omitempty"`
}

func lintDockerfile(ctx context.Context, path string) (dockerfileReport, error) {
	report := dockerfileReport{File: path, Warnings: []finding{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return report, err
	}
	// The source map only labels locations; it needs a definition of some state.
	source := llb.Local("dockerfile")
	definition, err := source.Marshal(ctx)
	if err != nil {
		return report, err
	}
	sourceMap := llb.NewSourceMap(&source, path, "Dockerfile", data)
	sourceMap.Definition = definition
	results, err := dockerfile2llb.DockerfileLint(ctx, data, dockerfile2llb.ConvertOpt{
		SourceMap:    sourceMap,
		MetaResolver: offlineImages{},
	})
	if err != nil {
		return report, err
	}
	for _, w := range results.Warnings {
		var line int32
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = w.Location.Ranges[0].Start.Line
		}
		report.Warnings = append(report.Warnings, finding{Rule: w.RuleName, Detail: w.Detail, Line: line})
	}
	if results.Error != nil {
		report.Error = results.Error.Message
	}
	return report, nil
}

func runDockerfile(ctx context.Context, paths []string) int {
	status := 0
	reports := []dockerfileReport{}
	for _, path := range paths {
		report, err := lintDockerfile(ctx, path)
		if err != nil {
			report.Error = err.Error()
		}
		if report.Error != "" || len(report.Warnings) > 0 {
			status = 1
		}
		reports = append(reports, report)
	}
	out, _ := json.MarshalIndent(reports, "", "  ")
	fmt.Println(string(out))
	return status
}

func runCompose(ctx context.Context, path string) int {
	abs, err := filepath.Abs(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	options, err := cli.NewProjectOptions(
		[]string{abs},
		cli.WithOsEnv,
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	project, err := options.LoadProject(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(string(out))
	return 0
}

func main() {
	ctx := context.Background()
	if len(os.Args) >= 3 && os.Args[1] == "dockerfile" {
		os.Exit(runDockerfile(ctx, os.Args[2:]))
	}
	if len(os.Args) == 3 && os.Args[1] == "compose" {
		os.Exit(runCompose(ctx, os.Args[2]))
	}
	fmt.Fprintln(os.Stderr, "usage: deploycheck dockerfile FILE... | deploycheck compose FILE")
	os.Exit(2)
}
