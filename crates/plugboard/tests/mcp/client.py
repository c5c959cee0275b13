"""An MCP client on the official Python SDK (`mcp`, pinned in requirements.txt), driven by the
host's tests (crates/plugboard/tests/it/mcp.rs) against a real `plugboard serve`.

    python client.py URL TOKEN MODE COMMAND [ARGS...]

MODE is the SDK's `mode`: `auto` (probes server/discover: protocol 2026-07-28) or `legacy`
(`initialize`: protocol 2025-11-25). TOKEN `-` sends no Authorization header. Commands print one
JSON object per line on stdout:

    tools                    {"protocol": ..., "tools": [every tool definition, all pages]}
    call NAME ARGS_JSON      {"protocol": ..., "result": CallToolResult}
    progress NAME ARGS_JSON  as call, with a progress callback: also {"progress": [[progress,
                             total, message], ...]} as notifications/progress arrived
    task NAME ARGS_JSON      the tasks extension declared: {"claimed": CreateTaskResult} or
                             {"result": CallToolResult} when the server answered at once
    task-wait NAME ARGS_JSON the tasks extension resolving the task: {"result": CallToolResult}
    task-get TASK_ID         {"task": what tasks/get answered}
    listen                   {"ready": true}, then {"notification": "tools/list_changed"} for
                             each (legacy: the session's GET stream; auto: subscriptions/listen),
                             until killed

Any failure prints {"error": TYPE, "message": ..., "status": HTTP status if any} and exits 3.
"""
import json
import sys
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from pydantic import ConfigDict, Field

TASKS = "io.modelcontextprotocol/tasks"


def emit(value: Any) -> None:
    print(json.dumps(value), flush=True)


class TaskParams(types.RequestParams):
    task_id: str = Field(alias="taskId")


class GetTask(types.Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class CreateTaskResult(types.Result):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")


class AnyResult(types.Result):
    model_config = ConfigDict(extra="allow")


async def get_task(session: Any, task_id: str) -> dict[str, Any]:
    result = await session.send_request(GetTask(params=TaskParams(taskId=task_id)), AnyResult)
    return result.model_dump(by_alias=True, exclude_none=True)


async def resolve_task(created: CreateTaskResult, ctx: ClaimContext) -> types.CallToolResult:
    """Polls tasks/get until the task is done; its result is the tool's."""
    while True:
        task = await get_task(ctx.session, created.task_id)
        if task["status"] == "completed":
            return types.CallToolResult.model_validate(task["result"])
        if task["status"] in ("failed", "cancelled"):
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"task {task['status']}: {task}")],
                is_error=True,
            )
        await anyio.sleep((task.get("pollIntervalMs") or 1000) / 1000)


class Tasks(ClientExtension):
    identifier = TASKS

    def claims(self):
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=resolve_task)]


def client(url: str, token: str, mode: str, tasks: bool = False, **options: Any) -> Client:
    headers = {} if token == "-" else {"Authorization": f"Bearer {token}"}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=120))
    return Client(
        streamable_http_client(url, http_client=http),
        mode=mode,
        extensions=[Tasks()] if tasks else None,
        cache=None,
        **options,
    )


def dump(result: Any) -> Any:
    return result.model_dump(by_alias=True, exclude_none=True, mode="json")


async def list_all(mcp: Client) -> list[Any]:
    tools, cursor = [], None
    while True:
        page = await mcp.session.list_tools(
            params=types.PaginatedRequestParams(cursor=cursor) if cursor else None
        )
        tools += [dump(tool) for tool in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return tools


async def main(url: str, token: str, mode: str, command: str, *args: str) -> None:
    if command == "tools":
        async with client(url, token, mode) as mcp:
            emit({"protocol": mcp.session.protocol_version, "tools": await list_all(mcp)})
    elif command == "call":
        async with client(url, token, mode) as mcp:
            await list_all(mcp)  # the SDK checks structured results against listed schemas
            result = await mcp.call_tool(args[0], json.loads(args[1]))
            emit({"protocol": mcp.session.protocol_version, "result": dump(result)})
    elif command == "progress":
        reports = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            reports.append([progress, total, message])

        async with client(url, token, mode) as mcp:
            await list_all(mcp)
            result = await mcp.call_tool(args[0], json.loads(args[1]), progress_callback=on_progress)
            emit({"protocol": mcp.session.protocol_version, "result": dump(result), "progress": reports})
    elif command == "task":
        async with client(url, token, mode, tasks=True) as mcp:
            result = await mcp.session.call_tool(args[0], json.loads(args[1]), allow_claimed=True)
            key = "claimed" if isinstance(result, CreateTaskResult) else "result"
            emit({"protocol": mcp.session.protocol_version, key: dump(result)})
    elif command == "task-wait":
        async with client(url, token, mode, tasks=True) as mcp:
            await list_all(mcp)
            result = await mcp.call_tool(args[0], json.loads(args[1]))
            emit({"protocol": mcp.session.protocol_version, "result": dump(result)})
    elif command == "task-get":
        async with client(url, token, mode, tasks=True) as mcp:
            emit({"task": await get_task(mcp.session, args[0])})
    elif command == "listen":
        await listen(url, token, mode)
    else:
        raise SystemExit(f"unknown command {command}")


async def listen(url: str, token: str, mode: str) -> None:
    if mode == "legacy":
        changed = anyio.Event()

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ServerNotification) and isinstance(
                message.root if hasattr(message, "root") else message, types.ToolListChangedNotification
            ):
                emit({"notification": "tools/list_changed"})

        async with client(url, token, mode, message_handler=on_message) as mcp:
            await mcp.session.list_tools()
            emit({"ready": True, "protocol": mcp.session.protocol_version})
            await changed.wait()
    else:
        async with client(url, token, mode) as mcp:
            async with mcp.listen(tools_list_changed=True) as subscription:
                emit({"ready": True, "protocol": mcp.session.protocol_version})
                async for _event in subscription:
                    emit({"notification": "tools/list_changed"})


def run() -> None:
    try:
        anyio.run(main, *sys.argv[1:])
    except BaseException as error:  # report everything the SDK raises, for the test to judge
        if isinstance(error, (SystemExit, KeyboardInterrupt)):
            raise
        cause = error
        while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
            cause = cause.exceptions[0]
        response = getattr(cause, "response", None)
        emit({
            "error": type(cause).__name__,
            "message": str(cause),
            "status": getattr(response, "status_code", None),
        })
        sys.exit(3)


if __name__ == "__main__":
    run()
