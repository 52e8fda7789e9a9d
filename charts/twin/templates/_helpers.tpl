{{/* The service names the chart knows, in the order the data flows. */}}
{{- define "twin.appServices" -}}ingest cdc embedder trainer gateway monitor{{- end -}}

{{- define "twin.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

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

{{/* The image of a twin service: (dict "root" $ "name" "ingest" "svc" $svc) */}}
{{- define "twin.image" -}}
{{- $repo := .svc.image.repository | default (printf "%s/twin-%s" .root.Values.global.imageRegistry .name) -}}
{{- $tag := .svc.image.tag | default .root.Values.global.imageTag | default .root.Chart.AppVersion -}}
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

{{- define "twin.redisUrl" -}}
{{- if .Values.redis.enabled -}}{{ printf "redis://%s:%v/0" (include "twin.name" (dict "root" . "name" "redis")) .Values.redis.port }}
{{- else -}}{{ required "redis.external.url is required when redis.enabled=false" .Values.redis.external.url }}{{- end -}}
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

{{- define "twin.pgSecretName" -}}
{{- .Values.postgresql.auth.existingSecret | default (include "twin.name" (dict "root" . "name" "secrets")) -}}
{{- end -}}

{{/* Env shared by every twin container: the ConfigMap and the Secret. */}}
{{- define "twin.envFrom" -}}
- configMapRef:
    name: {{ include "twin.name" (dict "root" . "name" "config") }}
- secretRef:
    name: {{ include "twin.pgSecretName" . }}
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
