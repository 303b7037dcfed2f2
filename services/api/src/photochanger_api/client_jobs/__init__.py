"""The client job API (`/v1`): submit a job, follow it (status, Server-Sent Events, signed
webhooks), fetch its result, cancel it — each client key seeing only its own jobs."""
