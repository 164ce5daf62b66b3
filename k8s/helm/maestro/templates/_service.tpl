{{/*
"maestro.service": every object of one service, from its entry in the `services:` map.
Called as (dict "root" $ "name" "codegen" "svc" (index .Values.services "codegen")).
A StatefulSet, so each replica keeps its own job database on its own volume across restarts.
*/}}
{{- define "maestro.service" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $svc := .svc -}}
{{- $fullName := include "maestro.componentName" (dict "root" $root "component" $name) -}}
{{- $ctx := dict "root" $root "component" $name -}}
{{- $kubeApi := include "maestro.usesKubeApi" (dict "name" $name "svc" $svc) -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "maestro.componentLabels" $ctx | nindent 4 }}
automountServiceAccountToken: {{ if $kubeApi }}true{{ else }}false{{ end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "maestro.componentLabels" $ctx | nindent 4 }}
    maestro.io/metrics: "true"
  {{- with $svc.serviceAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ default "ClusterIP" $svc.serviceType }}
  selector:
    {{- include "maestro.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $svc.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ $svc.metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullName }}-headless
  labels:
    {{- include "maestro.componentLabels" $ctx | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- include "maestro.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $svc.grpcPort }}
      targetPort: grpc
      protocol: TCP
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "maestro.componentLabels" $ctx | nindent 4 }}
spec:
  serviceName: {{ $fullName }}-headless
  {{- if not (and $svc.autoscaling $svc.autoscaling.enabled) }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      {{- include "maestro.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "maestro.componentLabels" $ctx | nindent 8 }}
      {{- with $svc.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ $fullName }}
      automountServiceAccountToken: {{ if $kubeApi }}true{{ else }}false{{ end }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "maestro.image" (dict "root" $root "service" $name) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          ports:
            - name: grpc
              containerPort: {{ $svc.grpcPort }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $svc.metricsPort }}
              protocol: TCP
          env:
            {{- include "maestro.commonEnv" (dict "root" $root "svc" $svc) | nindent 12 }}
            {{- if eq $name "codegen" }}
            - name: MAESTRO_SANDBOX_BACKEND
              value: {{ $svc.sandbox | quote }}
            {{- if eq $svc.sandbox "pod" }}
            - name: MAESTRO_SANDBOX_NAMESPACE
              value: {{ include "maestro.sandboxNamespace" $root | quote }}
            - name: MAESTRO_SANDBOX_IMAGE
              value: {{ default (include "maestro.image" (dict "root" $root "service" "codegen")) $svc.sandboxPod.image | quote }}
            - name: MAESTRO_SANDBOX_RUNTIME_CLASS
              value: {{ $svc.sandboxPod.runtimeClassName | quote }}
            {{- end }}
            {{- end }}
            {{- if eq $name "skill-learner" }}
            - name: MAESTRO_TRAINING_BACKEND
              value: {{ $svc.trainingBackend | quote }}
            - name: MAESTRO_TRAINING_DEVICE
              value: {{ $svc.trainingDevice | quote }}
            - name: RAY_AUTH_MODE
              value: disabled
            {{- if eq $svc.trainingBackend "rayjob" }}
            - name: MAESTRO_RAYJOB_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: MAESTRO_RAYJOB_IMAGE
              value: {{ default (include "maestro.image" (dict "root" $root "service" "skill-learner")) $svc.rayjobImage | quote }}
            - name: MAESTRO_RAYJOB_WORKER_REPLICAS
              value: {{ $svc.rayjobWorkerReplicas | quote }}
            - name: MAESTRO_RAYJOB_WORKER_GPUS
              value: {{ $svc.rayjobWorkerGpus | quote }}
            # the RayJob's pods mount the artifact claim at the same path, or read the object store with its credentials
            - name: MAESTRO_RAYJOB_ARTIFACT_CLAIM
              value: {{ if not $root.Values.artifacts.url }}{{ include "maestro.artifactClaim" $root | quote }}{{ else }}""{{ end }}
            - name: MAESTRO_RAYJOB_ENV_SECRET
              value: {{ $root.Values.artifacts.credentialsSecret | quote }}
            {{- else if $root.Values.rayCluster.enabled }}
            - name: RAY_ADDRESS
              value: "ray://{{ include "maestro.rayClusterName" $root }}-head-svc:10001"
            {{- end }}
            {{- end }}
            {{- if eq $name "evaluator" }}
            - name: MAESTRO_API_TOKEN
              valueFrom:
                secretKeyRef:
                  name: {{ include "maestro.evaluatorTokenSecret" $root }}
                  key: token
            {{- if $svc.tlsSecret }}
            - name: MAESTRO_TLS_CERT_FILE
              value: /tls/tls.crt
            - name: MAESTRO_TLS_KEY_FILE
              value: /tls/tls.key
            {{- end }}
            {{- end }}
            {{- range $key, $value := $svc.env }}
            - name: {{ $key }}
              value: {{ $value | quote }}
            {{- end }}
          {{- if $root.Values.artifacts.credentialsSecret }}
          envFrom:
            - secretRef:
                name: {{ $root.Values.artifacts.credentialsSecret }}
          {{- end }}
          startupProbe:
            grpc: {port: {{ $svc.grpcPort }}}
            {{- toYaml $root.Values.probes.startup | nindent 12 }}
          readinessProbe:
            grpc: {port: {{ $svc.grpcPort }}}
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          livenessProbe:
            grpc: {port: {{ $svc.grpcPort }}}
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            - {name: data, mountPath: /data}
            {{- if not $root.Values.artifacts.url }}
            - {name: artifacts, mountPath: /artifacts}
            {{- end }}
            {{- if $svc.usesLlm }}
            - {name: models, mountPath: /models}
            {{- end }}
            {{- if and (eq $name "evaluator") $svc.tlsSecret }}
            - {name: tls, mountPath: /tls, readOnly: true}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 2Gi}
        {{- if not $root.Values.persistence.enabled }}
        - name: data
          emptyDir: {sizeLimit: {{ $root.Values.persistence.size }}}
        {{- end }}
        {{- if not $root.Values.artifacts.url }}
        - name: artifacts
          persistentVolumeClaim:
            claimName: {{ include "maestro.artifactClaim" $root }}
        {{- end }}
        {{- if $svc.usesLlm }}
        - name: models
          emptyDir: {sizeLimit: 4Gi}
        {{- end }}
        {{- if and (eq $name "evaluator") $svc.tlsSecret }}
        - name: tls
          secret:
            secretName: {{ $svc.tlsSecret }}
        {{- end }}
  {{- if $root.Values.persistence.enabled }}
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- include "maestro.selectorLabels" $ctx | nindent 10 }}
      spec:
        accessModes: [ReadWriteOnce]
        {{- with $root.Values.persistence.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $root.Values.persistence.size }}
  {{- end }}
{{- if and $svc.pdb $svc.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "maestro.componentLabels" $ctx | nindent 4 }}
spec:
  maxUnavailable: {{ $svc.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "maestro.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- if and $svc.autoscaling $svc.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "maestro.componentLabels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: StatefulSet
    name: {{ $fullName }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}
