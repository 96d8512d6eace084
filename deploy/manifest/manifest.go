// Package manifest reads Guarantor's Kubernetes manifests the way the API server would:
// every document decodes strictly (unknown or duplicate fields are errors) into the typed
// object of its kind, and kustomizations are built in-process with the kustomize library
// that kubectl embeds. The deploy module's tests run their policy checks on what it
// returns.
package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one decoded Kubernetes object.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Obj is a pointer to the typed object, e.g. *appsv1.Deployment.
	Obj any
}

// ID names the object in messages: "Deployment guarantor/events".
func (o Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// kinds maps apiVersion/kind to a new typed object. A kind missing here is an error:
// the tests must know every kind the manifests use.
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":                       func() any { return &batchv1.CronJob{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	// The Prometheus Operator's (components/monitoring).
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// docSeparator splits a YAML stream into documents.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// SplitDocuments returns the non-empty documents of a YAML stream.
func SplitDocuments(data []byte) [][]byte {
	var out [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if isEmptyDocument([]byte(d)) {
			continue
		}
		out = append(out, []byte(d))
	}
	return out
}

func isEmptyDocument(d []byte) bool {
	for _, line := range strings.Split(string(d), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// Decode decodes every document of a YAML stream strictly into its typed object.
func Decode(data []byte) ([]Object, error) {
	var out []Object
	for i, doc := range SplitDocuments(data) {
		o, err := DecodeOne(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// DecodeOne decodes one document strictly.
func DecodeOne(doc []byte) (Object, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return Object{}, err
	}
	key := tm.APIVersion + "/" + tm.Kind
	newObj, ok := kinds[key]
	if !ok {
		return Object{}, fmt.Errorf("unknown kind %q (apiVersion %q)", tm.Kind, tm.APIVersion)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return Object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	meta := objectMeta(obj)
	return Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Name: meta.Name, Namespace: meta.Namespace, Obj: obj}, nil
}

type metaGetter interface {
	GetName() string
	GetNamespace() string
}

type nameNS struct{ Name, Namespace string }

func objectMeta(obj any) nameNS {
	if m, ok := obj.(metaGetter); ok {
		return nameNS{Name: m.GetName(), Namespace: m.GetNamespace()}
	}
	return nameNS{}
}

// JSONPatchOp is one RFC 6902 operation of a kustomize patch file.
type JSONPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from,omitempty"`
	Value any    `json:"value,omitempty"`
}

// DecodeJSONPatch decodes a JSON 6902 patch file strictly.
func DecodeJSONPatch(data []byte) ([]JSONPatchOp, error) {
	var ops []JSONPatchOp
	if err := yaml.UnmarshalStrict(data, &ops); err != nil {
		return nil, err
	}
	for i, op := range ops {
		switch op.Op {
		case "add", "remove", "replace", "move", "copy", "test":
		default:
			return nil, fmt.Errorf("operation %d: unknown op %q", i, op.Op)
		}
		if !strings.HasPrefix(op.Path, "/") {
			return nil, fmt.Errorf("operation %d: path %q is not a JSON pointer", i, op.Path)
		}
	}
	return ops, nil
}

// IsJSONPatch reports whether a patch file is a JSON 6902 patch (a YAML sequence)
// rather than a strategic-merge patch (an object).
func IsJSONPatch(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return strings.HasPrefix(t, "- ") || t == "-"
	}
	return false
}

// ReadKustomization decodes dir/kustomization.yaml strictly.
func ReadKustomization(dir string) (*types.Kustomization, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "kustomization.yaml"), err)
	}
	switch k.Kind {
	case types.KustomizationKind, types.ComponentKind:
	default:
		return nil, fmt.Errorf("%s: kind %q is neither Kustomization nor Component", dir, k.Kind)
	}
	return &k, nil
}

// Build runs `kustomize build dir` in-process and decodes the result strictly.
func Build(dir string) ([]Object, []byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return nil, nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	objs, err := Decode(out)
	if err != nil {
		return nil, out, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return objs, out, nil
}

// Set is a built kustomization with lookups.
type Set struct {
	Objects []Object
}

// Get returns the object of the kind, namespace and name.
func (s Set) Get(kind, namespace, name string) (Object, bool) {
	for _, o := range s.Objects {
		if o.Kind == kind && o.Namespace == namespace && o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

// OfKind returns the objects of one kind, in build order.
func (s Set) OfKind(kind string) []Object {
	var out []Object
	for _, o := range s.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// Workload is anything that runs pods.
type Workload struct {
	Object
	// Replicas is spec.replicas (1 when unset); zero for jobs.
	Replicas int32
	// LongRunning is true for Deployments and StatefulSets (they need probes).
	LongRunning bool
	Pod         *corev1.PodTemplateSpec
}

// Workloads returns every pod template in the set.
func (s Set) Workloads() []Workload {
	var out []Workload
	for _, o := range s.Objects {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			out = append(out, Workload{Object: o, Replicas: replicas(v.Spec.Replicas), LongRunning: true, Pod: &v.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, Workload{Object: o, Replicas: replicas(v.Spec.Replicas), LongRunning: true, Pod: &v.Spec.Template})
		case *batchv1.Job:
			out = append(out, Workload{Object: o, Pod: &v.Spec.Template})
		case *batchv1.CronJob:
			out = append(out, Workload{Object: o, Pod: &v.Spec.JobTemplate.Spec.Template})
		}
	}
	return out
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// MinReplicas is the fewest pods the workload runs: an HPA's minReplicas when one
// scales it, else its replicas.
func (s Set) MinReplicas(w Workload) int32 {
	for _, o := range s.OfKind("HorizontalPodAutoscaler") {
		h := o.Obj.(*autoscalingv2.HorizontalPodAutoscaler)
		ref := h.Spec.ScaleTargetRef
		if o.Namespace == w.Namespace && ref.Kind == w.Kind && ref.Name == w.Name {
			if h.Spec.MinReplicas == nil {
				return 1
			}
			return *h.Spec.MinReplicas
		}
	}
	return w.Replicas
}

// LabelsMatch reports whether every selector label is set to the same value in labels.
// An empty selector matches nothing here: the manifests never mean "every pod" with a
// Service or a PDB.
func LabelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ContainerPort finds a port of the pod by name or number.
func ContainerPort(pod *corev1.PodSpec, name string, number int32) (corev1.ContainerPort, bool) {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == number) {
				return p, true
			}
		}
	}
	return corev1.ContainerPort{}, false
}

// SortedKeys returns a map's keys in order, for stable messages.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
