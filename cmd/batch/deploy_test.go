package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// deployDir holds the Kubernetes manifests the README documents.
const deployDir = "../../deploy/kubernetes"

// decodeStrict decodes a manifest into v, refusing unknown fields.
func decodeStrict(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestDeployManifests decodes every manifest strictly into the Kubernetes
// API types and parses each batch container's arguments, with the job file
// from the ConfigMap, by batch's own command-line parser, so the files
// cannot drift from the flags.
func TestDeployManifests(t *testing.T) {
	var cm corev1.ConfigMap
	decodeStrict(t, "configmap.yaml", &cm)
	var sec corev1.Secret
	decodeStrict(t, "secret.yaml", &sec)
	if sec.StringData["api-keys"] == "" || sec.StringData["pgpassword"] == "" {
		t.Error("the Secret lacks api-keys or pgpassword")
	}
	var job batchv1.Job
	decodeStrict(t, "job.yaml", &job)
	var cron batchv1.CronJob
	decodeStrict(t, "cronjob.yaml", &cron)
	if cron.Spec.Schedule == "" || cron.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob schedule %q, concurrency %q", cron.Spec.Schedule, cron.Spec.ConcurrencyPolicy)
	}
	entries, err := os.ReadDir(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("%s holds %d files; this test checks 4", deployDir, len(entries))
	}

	for name, spec := range map[string]batchv1.JobSpec{"job.yaml": job.Spec, "cronjob.yaml": cron.Spec.JobTemplate.Spec} {
		t.Run(name, func(t *testing.T) {
			if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
				t.Fatal("not an Indexed Job")
			}
			pod := spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Containers))
			}
			c := pod.Containers[0]
			if len(c.Command) != 1 || c.Command[0] != "batch" {
				t.Fatalf("command %v", c.Command)
			}
			mounts := map[string]string{}
			for _, m := range c.VolumeMounts {
				mounts[m.Name] = m.MountPath
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v
			}
			if v := volumes["state"]; v.EmptyDir == nil {
				t.Error("the state is not an emptyDir")
			}
			if v := volumes["keys"]; v.Secret == nil || v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0 {
				t.Error("the key file must come from the Secret, readable by its owner only (batch refuses others)")
			}
			if pod.SecurityContext != nil && pod.SecurityContext.FSGroup != nil {
				t.Error("fsGroup makes the key file group-readable, which batch refuses")
			}

			// The ConfigMap's job file, where the pod mounts it.
			dir := t.TempDir()
			args := append([]string{}, c.Args...)
			for i, a := range args {
				for vol, path := range mounts {
					if strings.HasPrefix(a, path+"/") {
						if vol == "config" {
							f := filepath.Join(dir, strings.TrimPrefix(a, path+"/"))
							if err := os.WriteFile(f, []byte(cm.Data[filepath.Base(f)]), 0o600); err != nil {
								t.Fatal(err)
							}
							args[i] = f
						}
					}
				}
			}
			var cli CLI
			exit := -1
			var out bytes.Buffer
			parser, err := newParser(&cli, &out, &out, func(code int) { exit = code }, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			kctx, err := parser.Parse(args)
			if err != nil || exit >= 0 {
				t.Fatalf("batch %s: %v %s", strings.Join(args, " "), err, out.String())
			}
			if kctx.Command() != "run" {
				t.Fatalf("command %q, want run", kctx.Command())
			}
			r := cli.Run
			if r.Shards != int(*spec.Completions) || spec.Parallelism == nil || *spec.Parallelism != *spec.Completions {
				t.Errorf("--shards %d, completions %d: they must agree", r.Shards, *spec.Completions)
			}
			if !r.Verify || !r.EnrichPerson || !r.EnrichOrg || !isPostgres(r.Cache) || !isDatabase(r.Output) {
				t.Errorf("the job file does not set the stages, a shared cache and a database output: %+v", r.JobFlags)
			}
			if !strings.HasPrefix(r.State, mounts["state"]) || !strings.HasPrefix(r.APIKeyFile, mounts["keys"]) {
				t.Errorf("--state %s and --api-key-file %s are not on the state and keys volumes", r.State, r.APIKeyFile)
			}
			spec, err := r.spec(func(k string) string {
				if k == "JOB_COMPLETION_INDEX" {
					return "2"
				}
				return ""
			})
			if err != nil || spec.Index != 2 || spec.Count != r.Shards {
				t.Errorf("shard from JOB_COMPLETION_INDEX=2: %v, %v", spec, err)
			}
		})
	}
}
