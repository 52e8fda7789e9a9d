{{/* The application services with a Deployment of their own, in the order the data flows. */}}
{{- define "twin.appServices" -}}ingest cdc embedder trainer gateway monitor{{- end -}}

{{/* twin.name: "<release>-<component>" for a component; call with (dict "root" $ "name" "ingest") */}}
{{- define "twin.name" -}}
{{- printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "twin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: llm-twin
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "twin.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* metadata of a namespaced object: name, namespace (the release's), labels. (dict "root" $ "name" "x") */}}
{{- define "twin.metadata" -}}
name: {{ include "twin.name" . }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "twin.labels" . | nindent 2 }}
{{- end -}}

{{/* An image reference from {repository, tag}: (dict "root" $ "name" "ingest" "image" $svc.image).
     An empty repository means the twin image <global.imageRegistry>/twin-<name>; an empty tag the chart's. */}}
{{- define "twin.image" -}}
{{- $registry := .root.Values.global.imageRegistry -}}
{{- $default := ternary (printf "twin-%s" .name) (printf "%s/twin-%s" (trimSuffix "/" $registry) .name) (empty $registry) -}}
{{- $repo := .image.repository | default $default -}}
{{- $tag := .image.tag | default .root.Values.global.imageTag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* Addresses of the backing servers: in-chart when enabled, else the external value (required). */}}
{{- define "twin.pgHost" -}}
{{- if .Values.postgresql.enabled -}}{{ include "twin.name" (dict "root" . "name" "postgresql") }}
{{- else -}}{{ required "postgresql.external.host is required when postgresql.enabled=false" .Values.postgresql.external.host }}{{- end -}}
{{- end -}}

{{- define "twin.pgPort" -}}
{{- if .Values.postgresql.enabled -}}{{ .Values.postgresql.port }}{{- else -}}{{ .Values.postgresql.external.port }}{{- end -}}
{{- end -}}

{{- define "twin.kafkaBootstrap" -}}
{{- if .Values.kafka.enabled -}}{{ printf "%s-kafka-bootstrap:9092" .Values.kafka.clusterName }}
{{- else -}}{{ required "kafka.external.bootstrapServers is required when kafka.enabled=false" .Values.kafka.external.bootstrapServers }}{{- end -}}
{{- end -}}

{{- define "twin.connectUrl" -}}
{{- if and .Values.kafka.enabled .Values.kafka.connect.enabled -}}{{ printf "http://%s-connect-api:8083" .Values.kafka.clusterName }}
{{- else -}}{{ .Values.kafka.connect.externalUrl }}{{- end -}}
{{- end -}}

{{- define "twin.redisHost" -}}
{{- if .Values.redis.enabled -}}{{ include "twin.name" (dict "root" . "name" "redis") }}
{{- else -}}{{ required "redis.external.host is required when redis.enabled=false" .Values.redis.external.host }}{{- end -}}
{{- end -}}

{{- define "twin.redisPort" -}}
{{- if .Values.redis.enabled -}}{{ .Values.redis.port }}{{- else -}}{{ .Values.redis.external.port }}{{- end -}}
{{- end -}}

{{- define "twin.qdrantUrl" -}}
{{- if .Values.qdrant.enabled -}}{{ printf "http://%s:%v" (include "twin.name" (dict "root" . "name" "qdrant")) .Values.qdrant.httpPort }}
{{- else -}}{{ .Values.qdrant.external.url }}{{- end -}}
{{- end -}}

{{- define "twin.mlflowUri" -}}
{{- if .Values.mlflow.enabled -}}{{ printf "http://%s:%v" (include "twin.name" (dict "root" . "name" "mlflow")) .Values.mlflow.port }}
{{- else -}}{{ .Values.mlflow.external.trackingUri }}{{- end -}}
{{- end -}}

{{- define "twin.otlpEndpoint" -}}
{{- if .Values.otelCollector.enabled -}}{{ printf "http://%s:%v" (include "twin.name" (dict "root" . "name" "otel-collector")) .Values.otelCollector.grpcPort }}
{{- else -}}{{ .Values.otelCollector.external.endpoint }}{{- end -}}
{{- end -}}

{{/* The one Secret of every credential: the chart's own or secrets.existingSecret. */}}
{{- define "twin.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "twin.name" (dict "root" . "name" "secrets")) -}}
{{- end -}}

{{/* The Secret's keys and the environment variable each reaches a container as. */}}
{{- define "twin.secretKeys" -}}
TWIN_PG_PASSWORD: TWIN_PG_PASSWORD
TWIN_REDIS_PASSWORD: TWIN_REDIS_PASSWORD
MLFLOW_TRACKING_PASSWORD: MLFLOW_TRACKING_PASSWORD
MLFLOW_FLASK_SERVER_SECRET_KEY: MLFLOW_FLASK_SERVER_SECRET_KEY
TWIN_API_KEY_PEPPER: TWIN_KEYS_PEPPER
TWIN_SERVICE_TOKEN: TWIN_SERVICE_TOKEN
{{- end -}}

{{/* The environment a twin container gets from the Secret: the keys in `keys`, plus what is built from them
     (the Redis URL and Feast's connection string carry the Redis password).
     (dict "root" $ "keys" $svc.secretEnv) */}}
{{- define "twin.secretEnv" -}}
{{- $root := .root }}
{{- $names := include "twin.secretKeys" $root | fromYaml }}
{{- range $key := .keys }}
- name: {{ index $names $key }}
  valueFrom:
    secretKeyRef: {name: {{ include "twin.secretName" $root }}, key: {{ $key }}}
{{- if eq $key "TWIN_REDIS_PASSWORD" }}
- name: TWIN_REDIS_URL
  value: {{ printf "redis://:$(TWIN_REDIS_PASSWORD)@%s:%v/%v" (include "twin.redisHost" $root) (include "twin.redisPort" $root) (ternary 0 $root.Values.redis.external.db $root.Values.redis.enabled) | quote }}
- name: TWIN_FEAST_REDIS
  value: {{ printf "%s:%v,password=$(TWIN_REDIS_PASSWORD)" (include "twin.redisHost" $root) (include "twin.redisPort" $root) | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The pod-level settings every twin workload shares: pull secrets, security context, no API token unless a
     service account is named. (dict "root" $ "serviceAccount" "" ) */}}
{{- define "twin.podCommon" -}}
{{- with .root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .serviceAccount }}
serviceAccountName: {{ .serviceAccount }}
automountServiceAccountToken: true
{{- else }}
automountServiceAccountToken: false
{{- end }}
securityContext:
  {{- toYaml .root.Values.global.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Anti-affinity that spreads one workload's pods over nodes: (dict "root" $ "name" "gateway") */}}
{{- define "twin.antiAffinity" -}}
{{- $mode := .root.Values.global.antiAffinity -}}
{{- if eq $mode "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "twin.selectorLabels" . | nindent 14 }}
{{- else if eq $mode "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "twin.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end -}}

{{/* The GPU placement of a pod spec when asked for: (dict "root" $ "gpu" true/false) */}}
{{- define "twin.gpuPlacement" -}}
{{- if .gpu }}
nodeSelector:
  {{- toYaml .root.Values.inference.gpu.nodeSelector | nindent 2 }}
tolerations:
  {{- toYaml .root.Values.inference.gpu.tolerations | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Resources with the GPU added when asked for: (dict "root" $ "resources" $r "gpu" true/false) */}}
{{- define "twin.resourcesWithGpu" -}}
{{- $gpu := .root.Values.inference.gpu -}}
requests:
  {{- toYaml .resources.requests | nindent 2 }}
  {{- if .gpu }}
  {{ $gpu.resourceName }}: {{ $gpu.count | quote }}
  {{- end }}
limits:
  {{- toYaml .resources.limits | nindent 2 }}
  {{- if .gpu }}
  {{ $gpu.resourceName }}: {{ $gpu.count | quote }}
  {{- end }}
{{- end -}}

{{/* A PodDisruptionBudget that lets one pod go at a time: (dict "root" $ "name" "gateway") */}}
{{- define "twin.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "twin.metadata" . | nindent 2 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "twin.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* The container security context of the third-party servers: the global one with their own user. (dict "root" $ "uid" 999) */}}
{{- define "twin.serverSecurityContext" -}}
{{- $ctx := deepCopy .root.Values.global.containerSecurityContext -}}
{{- $_ := set $ctx "runAsUser" .uid -}}
{{- $_ := set $ctx "runAsGroup" (.gid | default .uid) -}}
{{- toYaml $ctx -}}
{{- end -}}

{{/* Pod security context for a third-party server running as uid/gid. (dict "root" $ "uid" 999 "gid" 999) */}}
{{- define "twin.serverPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid | default .uid }}
fsGroup: {{ .gid | default .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
