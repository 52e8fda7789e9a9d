# syntax=docker/dockerfile:1.7
# The Kafka Connect image of the chart (kafka.connect.image, skaffold artifact twin-connect): Strimzi's Kafka image
# with the Debezium PostgreSQL connector plugin in /opt/kafka/plugins, the way Strimzi documents prebuilt Connect
# images. The plugin archive comes from Maven Central, checked against its SHA-256 (its SHA-1 is the one Maven
# Central publishes beside it). Versions: .env (STRIMZI_VERSION, KAFKA_VERSION, DEBEZIUM_VERSION); the tests check
# this file agrees. Build from the repository root:
#   docker build -f docker/connect.Dockerfile -t twin-connect .
ARG STRIMZI_VERSION=1.0.1
ARG KAFKA_VERSION=4.1.1
FROM quay.io/strimzi/kafka:${STRIMZI_VERSION}-kafka-${KAFKA_VERSION}
USER root:root
ADD --checksum=sha256:634ae9e99501ac752cd736d954f152d71e7e1208d968ba2c4bb7cf1f6f1c72ed \
    https://repo1.maven.org/maven2/io/debezium/debezium-connector-postgres/3.4.1.Final/debezium-connector-postgres-3.4.1.Final-plugin.tar.gz \
    /tmp/debezium-connector-postgres.tar.gz
RUN mkdir -p /opt/kafka/plugins \
 && tar -xzf /tmp/debezium-connector-postgres.tar.gz -C /opt/kafka/plugins \
 && rm /tmp/debezium-connector-postgres.tar.gz
USER 1001
