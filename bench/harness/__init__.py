"""What every benchmark needs, one module per concern: where it runs (`environment`: its own
PostgreSQL and Redis databases, free ports), who uses it (`persons`), data seeded by SQL
(`seed`), the real processes of the Procfile (`processes`: uvicorn, a Celery worker), the load
(`httpclient`) and the arithmetic of the report (`report`).

A benchmark script goes like this:

    parser = argparse.ArgumentParser()
    environment.add_arguments(parser)         # --name, --redis-db, --port, --web-workers
    args = parser.parse_args()
    bench = environment.Bench.from_args(args)
    bench.setup()                             # environment + django.setup(), before any model
    bench.database_recreate()                 # DROP/CREATE hd_bench_<name>, migrate, teams
    people = persons.people_create(customers=4)
    seed.tickets_seed(10_000)                 # SQL, about 5 s per 100k tickets
    with processes.Worker(bench), processes.Server(bench) as server:
        client = httpclient.HttpClient(server.port, token=people.customers[0].token)
        status, body, seconds = client.request("GET", "/api/v1/tickets/")
    print(report.report_header(...))

Everything runs against `DATABASE_URL=postgres://postgres@127.0.0.1:5432/hd_bench_<name>` and
`REDIS_URL=redis://127.0.0.1:6379/<redis-db>`, with its own Celery queue and cache prefix, so a
benchmark never touches a developer's or a test run's data. The database is dropped and
created again by each run: do not point `--name` at anything you want to keep.
"""
