package manifest

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// EnvValue is an environment variable as the container will see it. Values that come
// from Secrets or the downward API are unknown here and stand as a placeholder.
type EnvValue struct {
	Value string
	// From says where it comes from: "literal", "ConfigMap events", "Secret events-database/dsn".
	From string
	// Secret names the Secret it is read from, if any.
	Secret string
}

// SecretPlaceholder stands for a value read from a Secret.
const SecretPlaceholder = "<from a Secret>"

// ResolveEnv returns the container's environment: envFrom first, then env (which wins),
// with ConfigMap values looked up in the set. A missing ConfigMap or key is an error
// unless marked optional.
func (s Set) ResolveEnv(namespace string, c corev1.Container) (map[string]EnvValue, error) {
	out := map[string]EnvValue{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			o, ok := s.Get("ConfigMap", namespace, ef.ConfigMapRef.Name)
			if !ok {
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("container %s: envFrom ConfigMap %q is not in the build", c.Name, ef.ConfigMapRef.Name)
			}
			for k, v := range o.Obj.(*corev1.ConfigMap).Data {
				out[ef.Prefix+k] = EnvValue{Value: v, From: "ConfigMap " + o.Name}
			}
		case ef.SecretRef != nil:
			return nil, fmt.Errorf("container %s: envFrom Secret %q: its keys cannot be checked; use env with secretKeyRef", c.Name, ef.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = EnvValue{Value: e.Value, From: "literal"}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			out[e.Name] = EnvValue{Value: SecretPlaceholder, From: "Secret " + ref.Name + "/" + ref.Key, Secret: ref.Name}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			o, ok := s.Get("ConfigMap", namespace, ref.Name)
			if !ok {
				return nil, fmt.Errorf("container %s: env %s: ConfigMap %q is not in the build", c.Name, e.Name, ref.Name)
			}
			v, ok := o.Obj.(*corev1.ConfigMap).Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("container %s: env %s: ConfigMap %q has no key %q", c.Name, e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = EnvValue{Value: v, From: "ConfigMap " + ref.Name + "/" + ref.Key}
		case e.ValueFrom.FieldRef != nil:
			out[e.Name] = EnvValue{Value: "<" + e.ValueFrom.FieldRef.FieldPath + ">", From: "field"}
		case e.ValueFrom.ResourceFieldRef != nil:
			out[e.Name] = EnvValue{Value: "<" + e.ValueFrom.ResourceFieldRef.Resource + ">", From: "resource"}
		}
	}
	return out, nil
}

// Binary returns the Guarantor binary a container image runs ("events", "guarantees",
// "gateway"), or false for other images (NATS, PostgreSQL).
func Binary(image string) (string, bool) {
	repo := image
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	dir, name := path.Split(repo)
	if !strings.HasSuffix(strings.TrimSuffix(dir, "/"), "guarantor") {
		return "", false
	}
	switch name {
	case "events", "guarantees", "gateway":
		return name, true
	}
	return "", false
}

// FlagValue returns the value a flag gets: from the last --name=value argument, else
// from its environment variable. ok is false when neither sets it.
func FlagValue(args []string, env map[string]EnvValue, name, envName string) (string, bool) {
	val, found := "", false
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			val, found = v, true
		}
	}
	if found {
		return val, true
	}
	if v, ok := env[envName]; ok {
		return v.Value, true
	}
	return "", false
}

// MountedFile returns what the container finds at file when a ConfigMap volume is
// mounted on file's directory (a directory mount, or the volume's items when it lists
// them). Files of other volumes are not in the build: an error.
func (s Set) MountedFile(namespace string, pod corev1.PodSpec, c corev1.Container, file string) (string, error) {
	dir, base := path.Split(path.Clean(file))
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != path.Clean(dir) || m.SubPath != "" {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.ConfigMap == nil {
				return "", fmt.Errorf("container %s: %s is on volume %s, not a ConfigMap", c.Name, file, v.Name)
			}
			key := base
			if len(v.ConfigMap.Items) > 0 {
				key = ""
				for _, it := range v.ConfigMap.Items {
					if it.Path == base {
						key = it.Key
					}
				}
			}
			o, ok := s.Get("ConfigMap", namespace, v.ConfigMap.Name)
			if !ok {
				return "", fmt.Errorf("container %s: ConfigMap %q is not in the build", c.Name, v.ConfigMap.Name)
			}
			data, ok := o.Obj.(*corev1.ConfigMap).Data[key]
			if !ok || key == "" {
				return "", fmt.Errorf("container %s: ConfigMap %q puts nothing at %s", c.Name, v.ConfigMap.Name, file)
			}
			return data, nil
		}
		return "", fmt.Errorf("container %s: mount %s names no volume of the pod", c.Name, m.Name)
	}
	return "", fmt.Errorf("container %s: nothing is mounted at %s", c.Name, dir)
}
