# facepipe: the official Airflow image plus the project's pinned dependencies and code.
#
#   docker build -t facepipe:latest .        (or: docker compose build)
#
# The code is baked into the image (not bind-mounted) so that every Airflow
# component, and every worker when scaling out, runs exactly the same version.
FROM apache/airflow:3.3.2-python3.11

# No apt layer: the opencv-python-headless 4.x and dlib-bin wheels are manylinux
# wheels that only link libc, libstdc++ and libz (checked with ldd), all in the
# base image. If a future wheel needs a system library, add it here as root:
#   USER root
#   RUN apt-get update \
#    && apt-get install -y --no-install-recommends libglib2.0-0 \
#    && apt-get clean && rm -rf /var/lib/apt/lists/*

# pip runs as the airflow user (the official image refuses pip as root).
USER airflow

# Dependencies first, code second, so editing a DAG does not reinstall the world.
# requirements.txt holds the direct dependencies (including apache-airflow==3.3.2,
# the image's own version, so pip cannot silently up- or downgrade Airflow);
# constraints.txt pins every transitive version as tested in the project's virtualenv.
COPY --chown=airflow:root requirements.txt constraints.txt /tmp/facepipe/
RUN pip install --no-cache-dir -r /tmp/facepipe/requirements.txt -c /tmp/facepipe/constraints.txt

# Only dags/, plugins/ and config/ are on Airflow's sys.path: the facepipe package
# lives in plugins/, and it finds include/sql relative to /opt/airflow.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/

# facepipe itself, installed editable from where it lives (pyproject.toml builds it from
# plugins/): the console script `facepipe` (e.g. `facepipe db upgrade` in a deploy step)
# and the airflow.plugins entry point that registers facepipe's Airflow plugin.
COPY --chown=airflow:root pyproject.toml README.md requirements.txt /opt/airflow/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow

# FACEPIPE_HOME is facepipe's state folder (the embedded database when no
# facepipe_db connection is set, validation results); set
# explicitly because the code's default (next to plugins/) is meant for a checkout.
# Example DAGs are off: they clutter the UI and slow down parsing in production.
# The directories are created here, owned by airflow, so that a named volume
# mounted on them starts with the right owner.
ENV FACEPIPE_HOME=/opt/airflow/facepipe-state \
    FACEPIPE_REPORTS_DIR=/opt/airflow/reports \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
RUN mkdir -p "${FACEPIPE_HOME}" "${FACEPIPE_REPORTS_DIR}" /opt/airflow/simple-auth
