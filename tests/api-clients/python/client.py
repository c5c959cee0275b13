"""A client generated from docs/openapi.json by openapi-python-client, used as docs/api.md shows:
enqueue a job, read it back, find it in a listing, and read a problem document.

    openapi-python-client generate --path docs/openapi.json --output-path CLIENT_DIR
    PYTHONPATH=CLIENT_DIR PLUGBOARD_URL=… PLUGBOARD_TOKEN=… python3 client.py
"""

import os

from plugboard_client import AuthenticatedClient
from plugboard_client.api.jobs import create_job, get_job, list_jobs
from plugboard_client.models import CreateJob, JobView, Problem

client = AuthenticatedClient(base_url=os.environ["PLUGBOARD_URL"], token=os.environ["PLUGBOARD_TOKEN"])

created = create_job.sync_detailed(client=client, body=CreateJob(kind="noop", queue="clients"))
assert created.status_code == 201, created
job = created.parsed
assert isinstance(job, JobView) and job.kind == "noop" and job.queue == "clients", job

shown = get_job.sync(job.id, client=client)
assert isinstance(shown, JobView) and shown.id == job.id, shown

listed = list_jobs.sync(client=client, queue="clients", limit=10)
assert any(each.id == job.id for each in listed.jobs), listed

missing = get_job.sync_detailed(999999999, client=client)
assert missing.status_code == 404, missing
assert isinstance(missing.parsed, Problem), missing.parsed
assert missing.parsed.type_ == "urn:plugboard:problem:not-found", missing.parsed

print(f"python client: job {job.id} enqueued, shown and listed; a missing job is a 404 problem")
