FROM python:3.11-slim
# CPU torch from the PyTorch index keeps the image small; the GPU override installs the CUDA build instead.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graphrec graphrec
COPY ingest ingest
COPY graph graph
COPY training training
COPY serving serving
COPY cypher cypher
RUN pip install --no-cache-dir '.[neo4j-fast]' && useradd --create-home --uid 10001 graphrec
USER graphrec
ENTRYPOINT ["graphrec"]
