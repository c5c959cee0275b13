// A client generated from docs/openapi.json (openapi-typescript writes schema.d.ts, openapi-fetch
// calls with its types), used as docs/api.md shows: enqueue a job, read it back, find it in a
// listing, and read a problem document. PLUGBOARD_URL and PLUGBOARD_TOKEN say which server.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const url = process.env.PLUGBOARD_URL;
const token = process.env.PLUGBOARD_TOKEN;
if (!url || !token) throw new Error("set PLUGBOARD_URL and PLUGBOARD_TOKEN");

const api = createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${token}` } });

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

const created = await api.POST("/api/v1/jobs", {
  body: { kind: "noop", payload: { from: "typescript" }, queue: "clients" },
});
check(created.response.status === 201, `enqueue answered ${created.response.status}`);
const job = created.data!;
check(job.kind === "noop" && job.queue === "clients", `enqueued ${JSON.stringify(job)}`);

const shown = await api.GET("/api/v1/jobs/{id}", { params: { path: { id: job.id } } });
check(shown.data?.id === job.id, `show answered ${JSON.stringify(shown.data)}`);

const listed = await api.GET("/api/v1/jobs", { params: { query: { queue: "clients", limit: 10 } } });
check(listed.data?.jobs.some((each) => each.id === job.id) === true, "the job is listed");

const missing = await api.GET("/api/v1/jobs/{id}", { params: { path: { id: 999999999 } } });
check(missing.response.status === 404, `a missing job answered ${missing.response.status}`);
check(missing.error?.type === "urn:plugboard:problem:not-found", `problem ${JSON.stringify(missing.error)}`);

console.log(`typescript client: job ${job.id} enqueued, shown and listed; a missing job is a 404 problem`);
