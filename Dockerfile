# The wheel is built in a stage of its own: the runtime image holds the installed package and no source tree, so
# `python -m graphrec` (the refresh child, torchrun's workers) finds only the installed copy.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY graphrec graphrec
COPY ingest ingest
COPY graph graph
COPY training training
COPY serving serving
COPY cypher cypher
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# CPU torch from the PyTorch index keeps the image small; docker-compose.gpu.yml builds with the CUDA index
# and the gpu extra (faiss-gpu) instead.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG EXTRAS=neo4j-fast
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX_URL}
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir "$(ls /wheels/graphrec-*.whl)[${EXTRAS}]" && rm -rf /wheels \
    && if echo "${EXTRAS}" | grep -q gpu; then pip uninstall -y faiss-cpu; fi \
    && useradd --create-home --uid 10001 graphrec \
    && mkdir -p /var/lib/graphrec && chown graphrec /var/lib/graphrec
USER graphrec
# The working directory is never on sys.path, for this process and every child (torchrun's workers included).
ENV GRAPHREC_DATA_DIR=/var/lib/graphrec PYTHONSAFEPATH=1
WORKDIR /var/lib/graphrec
EXPOSE 8000
ENTRYPOINT ["graphrec"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
