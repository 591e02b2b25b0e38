FROM python:3.11-slim

WORKDIR /app
# The locked versions first (a layer that only changes with the lock), then the project on top
# without resolving anything again.
COPY requirements.txt ./
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY api ./api
COPY schema ./schema
COPY resolvers ./resolvers
COPY storage ./storage
COPY providers ./providers
COPY domain ./domain
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 sms && mkdir /data && chown sms /data

USER sms
# The volume holds the database (embedded default) and the first start's admin key file.
# One malloc arena per thread kept fragmented memory (api/allocator.py; serve caps them with
# SMS_MALLOC_ARENAS too, this covers what runs before it).
ENV SMS_DATABASE_URL=sqlite+aiosqlite:////data/sms.db SMS_DATA_DIR=/data MALLOC_ARENA_MAX=2
VOLUME /data
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["sms-accounts"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
