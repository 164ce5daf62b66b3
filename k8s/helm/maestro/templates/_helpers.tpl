{{/* Names, labels and small shared pieces. */}}

{{- define "maestro.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-maestro, or the release name when it already contains the chart name. */}}
{{- define "maestro.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "maestro.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "maestro.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "maestro.labels" -}}
helm.sh/chart: {{ include "maestro.chart" . }}
app.kubernetes.io/name: {{ include "maestro.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: maestro
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "codegen"). */}}
{{- define "maestro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maestro.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of one component's objects. */}}
{{- define "maestro.componentLabels" -}}
{{ include "maestro.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Object name of a component: <fullname>-<component>. */}}
{{- define "maestro.componentName" -}}
{{- printf "%s-%s" (include "maestro.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Image of a service: <repository>/maestro-<service>:<tag>. */}}
{{- define "maestro.image" -}}
{{- printf "%s/maestro-%s:%s" .root.Values.image.repository .service (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{/* Namespace of codegen's sandbox pods. */}}
{{- define "maestro.sandboxNamespace" -}}
{{- $pod := (index .Values.services "codegen").sandboxPod -}}
{{- default (printf "%s-sandbox" .Release.Namespace) $pod.namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* True (non-empty) when a service's pods talk to the Kubernetes API. */}}
{{- define "maestro.usesKubeApi" -}}
{{- if and (eq .name "codegen") (eq (default "local" .svc.sandbox) "pod") -}}true{{- end -}}
{{- if and (eq .name "skill-learner") (eq (default "local" .svc.trainingBackend) "rayjob") -}}true{{- end -}}
{{- end -}}

{{/* Name of the artifacts PersistentVolumeClaim (when artifacts.url is empty): the existing claim or the chart's. */}}
{{- define "maestro.artifactClaim" -}}
{{- default (include "maestro.componentName" (dict "root" . "component" "artifacts")) .Values.artifacts.pvc.existingClaim -}}
{{- end -}}

{{/* Name of the RayCluster. */}}
{{- define "maestro.rayClusterName" -}}
{{- include "maestro.componentName" (dict "root" . "component" "ray") -}}
{{- end -}}

{{/* Secret names. */}}
{{- define "maestro.evaluatorTokenSecret" -}}
{{- $api := (index .Values.services "evaluator").apiToken -}}
{{- default (include "maestro.componentName" (dict "root" . "component" "evaluator-token")) $api.existingSecret -}}
{{- end -}}
{{- define "maestro.vllmApiKeySecret" -}}
{{- default (include "maestro.componentName" (dict "root" . "component" "vllm-api-key")) .Values.vllm.apiKey.existingSecret -}}
{{- end -}}

{{/* A random secret value kept across upgrades: (dict "root" $ "name" secretName "key" key). */}}
{{- define "maestro.keptRandom" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 40 | b64enc -}}
{{- end -}}
{{- end -}}

{{/* The environment every service gets: ports, paths, the other services' addresses, LLM. */}}
{{- define "maestro.commonEnv" -}}
{{- $root := .root -}}
- name: MAESTRO_GRPC_HOST
  value: "0.0.0.0"
- name: MAESTRO_GRPC_PORT
  value: {{ .svc.grpcPort | quote }}
- name: MAESTRO_METRICS_PORT
  value: {{ .svc.metricsPort | quote }}
- name: MAESTRO_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: MAESTRO_HOME
  value: /data
- name: MAESTRO_DATA_DIR
  value: /data/state
- name: MAESTRO_ARTIFACT_ROOT
  value: {{ default "/artifacts" $root.Values.artifacts.url | quote }}
- name: HOME
  value: /tmp
{{- range $name, $other := $root.Values.services }}
{{- if $other.enabled }}
- name: MAESTRO_{{ $name | replace "-" "_" | upper }}_ADDRESS
  value: "{{ include "maestro.componentName" (dict "root" $root "component" $name) }}:{{ $other.grpcPort }}"
{{- end }}
{{- end }}
{{- if .svc.usesLlm }}
- name: MAESTRO_MODEL_CACHE_DIR
  value: /models
{{- if $root.Values.vllm.enabled }}
- name: MAESTRO_LLM_BACKEND
  value: vllm
- name: MAESTRO_LLM_BASE_URL
  value: "http://{{ include "maestro.componentName" (dict "root" $root "component" "vllm") }}:{{ $root.Values.vllm.port }}/v1"
- name: MAESTRO_LLM_MODEL
  value: {{ default $root.Values.vllm.model $root.Values.vllm.servedModelName | quote }}
- name: MAESTRO_LLM_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "maestro.vllmApiKeySecret" $root }}
      key: api-key
{{- end }}
{{- end }}
{{- end -}}

{{/* Environment of Ray head and worker containers: the artifact store and the services' addresses. */}}
{{- define "maestro.rayEnv" -}}
{{- $root := .root -}}
- name: HOME
  value: /tmp
- name: RAY_AUTH_MODE
  value: disabled
- name: MAESTRO_HOME
  value: /tmp/maestro
- name: MAESTRO_ARTIFACT_ROOT
  value: {{ default "/artifacts" $root.Values.artifacts.url | quote }}
- name: MAESTRO_TRAINING_DEVICE
  value: {{ .learner.trainingDevice | quote }}
{{- range $name, $other := $root.Values.services }}
{{- if $other.enabled }}
- name: MAESTRO_{{ $name | replace "-" "_" | upper }}_ADDRESS
  value: "{{ include "maestro.componentName" (dict "root" $root "component" $name) }}:{{ $other.grpcPort }}"
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes of Ray pods: /tmp (Ray's session dir), shared memory for the object store, artifacts. */}}
{{- define "maestro.rayVolumeMounts" -}}
- {name: tmp, mountPath: /tmp}
- {name: shm, mountPath: /dev/shm}
{{- if not .Values.artifacts.url }}
- {name: artifacts, mountPath: /artifacts}
{{- end }}
{{- end -}}
{{- define "maestro.rayVolumes" -}}
- name: tmp
  emptyDir: {sizeLimit: 20Gi}
- name: shm
  emptyDir: {medium: Memory, sizeLimit: 16Gi}
{{- if not .Values.artifacts.url }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ include "maestro.artifactClaim" . }}
{{- end }}
{{- end -}}

{{/* Labels skill-learner puts on the RayJobs it submits (and KubeRay copies onto their pods' templates). */}}
{{- define "maestro.rayJobPodLabels" -}}
app.kubernetes.io/managed-by: maestro-skill-learner
app.kubernetes.io/component: training
{{- end -}}


{{/* Label selector of the Ray pods (head, workers) of those RayJobs: every pod but the submitter. */}}
{{- define "maestro.rayJobRayPodSelector" -}}
matchLabels:
  {{- include "maestro.rayJobPodLabels" . | nindent 2 }}
matchExpressions:
  - {key: maestro.io/rayjob-role, operator: DoesNotExist}
{{- end -}}

{{/* Label selector of the submitter pod of those RayJobs (K8sJobMode runs `ray job submit` in it). */}}
{{- define "maestro.rayJobSubmitterSelector" -}}
matchLabels:
  {{- include "maestro.rayJobPodLabels" . | nindent 2 }}
  maestro.io/rayjob-role: submitter
{{- end -}}
