{{/* The release's objects are named after the release, "shardcast" added unless it has it. */}}
{{- define "shardcast.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped objects also carry the namespace: two releases of one name in different
namespaces must not share (and on uninstall delete) each other's ClusterRole. */}}
{{- define "shardcast.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "shardcast.fullname" .) -}}
{{- end -}}

{{- define "shardcast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "shardcast.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "shardcast.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "shardcast.labels" -}}
{{ include "shardcast.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Exact namespaces among watchNamespaces (globs cannot hold a KopfPeering). */}}
{{- define "shardcast.exactNamespaces" -}}
{{- range .Values.watchNamespaces }}{{ if not (regexMatch "[*?\\[!]" .) }}{{ . }},{{ end }}{{ end -}}
{{- end -}}
