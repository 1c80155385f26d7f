{{/* Names, labels and the environment every marops container gets. */}}

{{- define "marops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "marops.labels" -}}
app.kubernetes.io/name: marops
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "service" "intake" "component" "api") */}}
{{- define "marops.selector" -}}
app.kubernetes.io/name: marops
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ printf "%s-%s" .service .component }}
{{- end -}}

{{- define "marops.image" -}}
{{- printf "%s-%s:%s" .root.Values.image.repository .service (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* the settings of a service's part: api and worker values merged with services.<name>.<part> */}}
{{- define "marops.part" -}}
{{- $svc := index .root.Values.services .service | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy (index .root.Values .part)) (index $svc .part | default dict)) -}}
{{- end -}}

{{/* Environment: (dict "root" $ "service" "intake" "role" R). R is "api" or "worker" (all
settings), "migrate" (the database only) or "topics" (Kafka only; no service). */}}
{{- define "marops.env" -}}
{{- $v := .root.Values -}}
{{- $up := upper .service -}}
{{- $c := $v.config -}}
{{- if ne .role "topics" }}
- name: {{ $up }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.database.name }}
      key: {{ index $v.secrets.database.keys .service }}
{{- with $c.database.sslmode }}
- name: MAROPS_DATABASE_SSLMODE
  value: {{ . | quote }}
{{- end }}
{{- if $v.secrets.postgresTls.name }}
- name: MAROPS_DATABASE_SSLROOTCERT
  value: /etc/marops/postgres/ca.crt
{{- if $v.secrets.postgresTls.clientCertificate }}
- name: MAROPS_DATABASE_SSLCERT
  value: /etc/marops/postgres/tls.crt
- name: MAROPS_DATABASE_SSLKEY
  value: /etc/marops/postgres/tls.key
{{- end }}
{{- end }}
{{- end }}
{{- if or (eq .role "api") (eq .role "worker") }}
- name: {{ $up }}_MIGRATE_ON_START
  value: {{ ternary "false" "true" $v.migrations.enabled | quote }}
- name: {{ $up }}_RUN_WORKERS
  value: {{ ternary "true" "false" (eq .role "worker") | quote }}
- name: MAROPS_LOG_LEVEL
  value: {{ $c.logLevel | quote }}
- name: MAROPS_LOG_JSON
  value: {{ $c.logJson | quote }}
- name: MAROPS_CONSUMER_MAX_RECORDS
  value: {{ $c.consumerMaxRecords | quote }}
- name: MAROPS_OTEL_EXPORTER
  value: {{ $c.otel.exporter | quote }}
- name: MAROPS_OTEL_ENDPOINT
  value: {{ $c.otel.endpoint | quote }}
- name: MAROPS_JWT_ALGORITHM
  value: {{ $c.jwt.algorithm | quote }}
- name: MAROPS_JWT_AUDIENCE
  value: {{ $c.jwt.audience | quote }}
- name: MAROPS_JWT_ISSUER
  value: {{ $c.jwt.issuer | quote }}
{{- if eq $c.jwt.algorithm "HS256" }}
- name: MAROPS_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.jwt.name }}
      key: {{ $v.secrets.jwt.key }}
{{- end }}
{{- with $c.jwt.jwksUrl }}
- name: MAROPS_JWT_JWKS_URL
  value: {{ . | quote }}
{{- end }}
{{- with $c.jwt.publicKey }}
- name: MAROPS_JWT_PUBLIC_KEY
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if ne .role "migrate" }}
- name: MAROPS_KAFKA_BOOTSTRAP_SERVERS
  value: {{ $c.kafka.bootstrapServers | quote }}
- name: MAROPS_KAFKA_SECURITY_PROTOCOL
  value: {{ $c.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" $c.kafka.securityProtocol }}
- name: MAROPS_KAFKA_SASL_MECHANISM
  value: {{ required "config.kafka.saslMechanism is required with a SASL_* protocol" $c.kafka.saslMechanism | quote }}
- name: MAROPS_KAFKA_SASL_USERNAME
  value: {{ required "config.kafka.saslUsername is required with a SASL_* protocol" $c.kafka.saslUsername | quote }}
- name: MAROPS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.kafkaSasl.name is required with a SASL_* protocol" $v.secrets.kafkaSasl.name }}
      key: {{ $v.secrets.kafkaSasl.key }}
{{- end }}
{{- if hasSuffix "SSL" $c.kafka.securityProtocol }}
- name: MAROPS_KAFKA_SSL_CHECK_HOSTNAME
  value: {{ $c.kafka.sslCheckHostname | quote }}
{{- if $v.secrets.kafkaTls.name }}
- name: MAROPS_KAFKA_SSL_CAFILE
  value: /etc/marops/kafka/ca.crt
{{- if $v.secrets.kafkaTls.clientCertificate }}
- name: MAROPS_KAFKA_SSL_CERTFILE
  value: /etc/marops/kafka/tls.crt
- name: MAROPS_KAFKA_SSL_KEYFILE
  value: /etc/marops/kafka/tls.key
{{- end }}
{{- end }}
{{- end }}
- name: MAROPS_TOPIC_PREFIX
  value: {{ $c.topics.prefix | quote }}
- name: MAROPS_TOPIC_PARTITIONS
  value: {{ $c.topics.partitions | quote }}
- name: MAROPS_TOPIC_REPLICATION_FACTOR
  value: {{ $c.topics.replicationFactor | quote }}
- name: MAROPS_TOPIC_MIN_INSYNC_REPLICAS
  value: {{ $c.topics.minInsyncReplicas | quote }}
{{- end }}
{{- end -}}

{{/* TLS material (Kafka, PostgreSQL) and a writable /tmp on a read-only root filesystem */}}
{{- define "marops.volumes" -}}
- name: tmp
  emptyDir: {}
{{- with .Values.secrets.kafkaTls.name }}
- name: kafka-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- with .Values.secrets.postgresTls.name }}
- name: postgres-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{- define "marops.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.secrets.kafkaTls.name }}
- name: kafka-tls
  mountPath: /etc/marops/kafka
  readOnly: true
{{- end }}
{{- if .Values.secrets.postgresTls.name }}
- name: postgres-tls
  mountPath: /etc/marops/postgres
  readOnly: true
{{- end }}
{{- end -}}

{{- define "marops.podSpecCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "marops.volumes" . | nindent 2 }}
{{- end -}}
