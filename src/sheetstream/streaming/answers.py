"""One question's answer: admitted, prepared (workbook, history, tools), generated, released.

A `chat` frame is checked here against what this node knows at once (the session's answer,
the workbook, the owner's quota), then claimed fleet-wide before its `start` frame goes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from sheetstream import protocol
from sheetstream.errors import SheetstreamError, WorkbookNotFound, owner_busy, session_busy
from sheetstream.grounding import Evidence, Source
from sheetstream.llm.base import ChatMessage, GenerationOptions, Model, ToolCall
from sheetstream.llm.text_reply import TextReply
from sheetstream.planner.plan import Decline, Plan
from sheetstream.planner.planning import plan_question
from sheetstream.planner.reply import decline_text, plan_numbers, reply_text
from sheetstream.planner.schema import Table, tables_of
from sheetstream.planner.sql import to_sql
from sheetstream.protocol import ChatFrame, EndReason
from sheetstream.storage.base import MessageRecord
from sheetstream.streaming.connection import Connection
from sheetstream.streaming.generation import generate, new_record
from sheetstream.streaming.ids import new_id
from sheetstream.streaming.registry import Session
from sheetstream.streaming.stream import Stream
from sheetstream.workbooks.commands import (
    COMMAND_TEXT_BYTES,
    Command,
    parse_command,
    profile_evidence,
    profile_text,
    sheets_text,
    sql_text,
    workbook_prompt,
)
from sheetstream.workbooks.preview import FOR_MODEL, TOOL_FRAME, preview
from sheetstream.workbooks.query import QueryResult

if TYPE_CHECKING:
    from sheetstream.streaming.chat import ChatService

log = logging.getLogger(__name__)

SHOWN_SQL_CHARS = 8192  # of a query, in its `tool` frame (a model may write a long one)
# workbooks whose tables the planner keeps read (a workbook never changes once uploaded)
PLANNED_WORKBOOKS = 16


class Answers:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        # bytes of stored history per owner ('' on an open service), read from storage at the
        # owner's first answer and kept up to date by this node's answers
        self.history_used: dict[str, int] = {}
        self._planned_tables: OrderedDict[str, tuple[Table, ...]] = OrderedDict()

    def start(self, session: Session, frame: ChatFrame, conn: Connection) -> None:
        """Check what this node can check at once, then answer in a task of its own."""
        service = self.service
        if session.active is not None:
            raise session_busy(frame.request_id)
        cap = service.settings.max_generations_per_owner
        if session.owner is not None and cap and service.registry.running_for(session.owner) >= cap:
            raise owner_busy(cap, frame.request_id)
        used = self.history_used.get(session.owner or "")
        if used is not None:
            service.quotas.check_history(used)
        workbook = self._workbook_for(session, frame)
        command = parse_command(frame.content)
        if command is not None and workbook is None:
            raise WorkbookNotFound(
                f"/{command.name} needs a workbook: upload one (POST /api/workbooks) and send "
                "its id as `workbook_id`.",
                request_id=frame.request_id,
            )
        batch = frame.batch or service.default_batch
        stream = Stream(
            new_id("st"), session.session_id, frame.request_id, frame.mode, batch, service.clock
        )
        stream.owner = session.owner
        service.registry.add_stream(session, stream)
        # whose share of the query slots this answer's queries take
        client = session.owner if session.owner is not None else conn.address
        stream.task = asyncio.create_task(
            self._answer(stream, session, frame, workbook, command, client, conn),
            name=stream.stream_id,
        )
        stream.task.add_done_callback(self._cancelled_before_start)

    def _workbook_for(self, session: Session, frame: ChatFrame) -> str | None:
        """The chat's workbook (attaching it to the session), else the session's, else None."""
        workbook_id = frame.workbook_id or session.workbook_id
        if workbook_id is None:
            return None
        workbooks = self.service.workbooks
        try:
            if workbooks is None:
                raise WorkbookNotFound("")
            workbooks.find(workbook_id, session.owner)
        except WorkbookNotFound:
            raise WorkbookNotFound(
                f"Workbook {workbook_id[:64]!r} not found; upload it (POST /api/workbooks) or "
                "omit `workbook_id`.",
                request_id=frame.request_id,
            ) from None
        session.workbook_id = workbook_id
        return workbook_id

    def _begin(self, stream: Stream, session: Session) -> None:
        """The `start` frame to every tab of the session here, which then read the stream."""
        stats = self.service.stats
        stats.streams_started[stream.mode.value] += 1
        stats.streams_active[stream.mode.value] += 1
        stream.begun = True
        for conn in session.connections:
            conn.push(stream.start_frame)
            conn.subscribe(stream)

    def _refuse(self, stream: Stream, conn: Connection, error: SheetstreamError) -> None:
        """Not admitted: the asking connection gets the error; the stream never existed."""
        self.service.registry.drop_stream(stream)
        error.request_id = stream.request_id
        self.service.reject(conn, error)

    def _cancelled_before_start(self, task: asyncio.Task[None]) -> None:
        """A task cancelled before its first step never ran `generate`; end its stream here."""
        stream = self.service.registry.streams.get(task.get_name())
        if stream is not None and not stream.finished:
            self._end_unstarted(stream, EndReason.CANCELLED)

    def _end_unstarted(self, stream: Stream, reason: EndReason) -> None:
        session = self.service.registry.sessions.get(stream.session_id)
        if not stream.begun and session is not None:
            self._begin(stream, session)
        stream.finish(reason)
        self.service.stats.streams_active[stream.mode.value] -= 1

    async def _answer(
        self,
        stream: Stream,
        session: Session,
        frame: ChatFrame,
        workbook_id: str | None,
        command: Command | None,
        client: str,
        conn: Connection,
    ) -> None:
        service = self.service
        try:
            await service.fleet.admit(
                stream, session.owner, service.settings.max_generations_per_owner
            )
        except SheetstreamError as exc:
            self._refuse(stream, conn, exc)
            return
        except asyncio.CancelledError:
            await service.fleet.release(stream)
            self._end_unstarted(stream, EndReason.CANCELLED)
            if stream.cancel_requested:
                return
            raise
        try:
            self._begin(stream, session)
            await self._generate(stream, session, frame, workbook_id, command, client)
        finally:
            await service.fleet.release(stream)

    async def _generate(
        self,
        stream: Stream,
        session: Session,
        frame: ChatFrame,
        workbook_id: str | None,
        command: Command | None,
        client: str,
    ) -> None:
        service = self.service
        settings = service.settings
        record = new_record(stream, frame.content, workbook_id)
        options = GenerationOptions(
            max_tokens=settings.max_answer_tokens, temperature=settings.temperature
        )
        owner = session.owner or ""
        try:
            service.fleet.publish_start(stream, record)
            if owner not in self.history_used:
                stored_bytes = await service.storage.history_bytes(owner)
                # another answer of this owner may have read and counted meanwhile: keep its
                service.quotas.check_history(self.history_used.setdefault(owner, stored_bytes))
            workbook = None
            if workbook_id is not None and service.workbooks is not None:
                workbook = await service.workbooks.get(workbook_id, session.owner)
            if session.history is None or service.fleet.shared:
                # in a fleet another node may have answered since: read the turns again
                session.history = await self._load_history(stream.session_id)
            messages = self._conversation(session.history, frame.content, workbook)
            evidence = profile_evidence(workbook) if workbook is not None else None
        except Exception as exc:  # found before any token: the answer ends as an error
            if isinstance(exc, WorkbookNotFound) and session.workbook_id == workbook_id:
                session.workbook_id = None  # deleted (on another node): the next chat is free
            if not isinstance(exc, SheetstreamError):
                log.exception("preparing the answer of stream %s failed", stream.stream_id)
                exc = SheetstreamError("The answer failed inside the server; please ask again.")
            service.stats.errors[exc.code] += 1
            error = protocol.error_frame(exc.code, exc.message, stream.request_id)
            stream.finish(EndReason.ERROR, error)
            service.stats.streams_active[stream.mode.value] -= 1
            return
        # The question is stored while the model starts, not before: storage stays off the
        # time to first token. `generate` waits for this write before storing the answer.
        stored = asyncio.create_task(service.storage.add_message(record))
        model: Model = service.model
        tools = None
        if workbook is not None and evidence is not None:
            if command is not None:
                options = dataclasses.replace(options, max_tokens=COMMAND_TEXT_BYTES)
                model = TextReply(
                    functools.partial(
                        self._run_command, stream, workbook, command, evidence, client
                    )
                )
            elif model.supports_tools:
                tools = SqlTool(self, stream, workbook, evidence, client)
                options = dataclasses.replace(options, tools=(RUN_SQL_SPEC,))
            elif model.reads_questions and (
                (planned := plan_question(frame.content, self._tables(workbook))) is not None
            ):
                # a model that cannot call tools: the planner answers data questions exactly
                options = dataclasses.replace(options, max_tokens=COMMAND_TEXT_BYTES)
                model = TextReply(
                    functools.partial(
                        self._answer_planned, stream, workbook, planned, evidence, client
                    )
                )
        await generate(
            stream,
            model,
            messages,
            options,
            service.storage,
            record,
            stored,
            service.stats,
            evidence,
            tools,
            ended=functools.partial(self._ended, stream, owner),
        )
        if stream.reason is not None and stream.text:
            if not isinstance(session.history, deque):  # a new session's first answer
                session.history = deque(maxlen=service.settings.history_turns)
            session.history.append((frame.content, stream.text))

    def _ended(self, stream: Stream, owner: str, record: MessageRecord) -> None:
        """The answer has ended (it is being stored): let go of its claims now, and count it
        against its owner's history quota now, not once written: a slow disk must not let
        the next questions through uncounted."""
        self.service.fleet.spawn(self.service.fleet.release(stream), "release")
        if owner in self.history_used:
            self.history_used[owner] += record.stored_bytes()

    async def _load_history(self, session_id: str) -> deque[tuple[str, str]]:
        """The turns the prompt uses, and no more: a long conversation stays in storage."""
        turns = self.service.settings.history_turns
        loaded: deque[tuple[str, str]] = deque(maxlen=turns)
        try:
            limit = 4 * turns + 4  # some turns may have no answer
            records = await self.service.storage.list_messages(session_id, limit=limit)
        except SheetstreamError as exc:
            log.error("history unavailable for %s: %s", session_id, exc.message)
            return loaded
        loaded.extend(
            (r.question, r.answer) for r in records if r.status != "streaming" and r.answer
        )
        return loaded

    async def _run_command(
        self,
        stream: Stream,
        workbook: dict[str, Any],
        command: Command,
        evidence: Evidence,
        client: str,
    ) -> str:
        """The exact answer to a command; `/sql` also sends a `tool` frame with its result."""
        if command.name == "sheets":
            return sheets_text(workbook)
        if command.name == "profile":
            return profile_text(workbook, command.argument)
        result = await self.run_workbook_sql(stream, workbook, command.argument, evidence, client)
        if isinstance(result, str):
            return f"The query did not run: {result}\n"
        return sql_text(result)

    def _tables(self, workbook: dict[str, Any]) -> tuple[Table, ...]:
        """The planner's view of the workbook, read from its profile once (its values' words
        included) for the last PLANNED_WORKBOOKS asked about."""
        key = str(workbook["workbook_id"])
        tables = self._planned_tables.get(key)
        if tables is None:
            tables = self._planned_tables[key] = tables_of(workbook)
            if len(self._planned_tables) > PLANNED_WORKBOOKS:
                self._planned_tables.popitem(last=False)
        else:
            self._planned_tables.move_to_end(key)
        return tables

    async def _answer_planned(
        self,
        stream: Stream,
        workbook: dict[str, Any],
        planned: Plan | Decline,
        evidence: Evidence,
        client: str,
    ) -> str:
        """The planner's answer: its query's result in words, or why it declined."""
        if isinstance(planned, Decline):
            return decline_text(planned, str(workbook.get("filename", "the workbook")))
        sql = to_sql(planned)
        result = await self.run_workbook_sql(stream, workbook, sql, evidence, client)
        if isinstance(result, str):
            return f"The query did not run: {result}\n"
        source = Source("query", sql)
        for value in plan_numbers(planned, len(result.rows)):
            evidence.add(value, source)
        return reply_text(planned, result.columns, result.rows)

    async def run_workbook_sql(
        self,
        stream: Stream,
        workbook: dict[str, Any],
        sql: str,
        evidence: Evidence,
        client: str,
    ) -> QueryResult | str:
        """Run a query for an answer, as one of `client`'s: a `tool` frame for the readers,
        its values as evidence.

        Returns the result, or the reason it did not run.
        """
        workbooks = self.service.workbooks
        assert workbooks is not None
        try:
            result = await workbooks.query(workbook["workbook_id"], sql, client=client)
        except SheetstreamError as exc:
            stream.add_preface(
                protocol.tool_frame(
                    stream.stream_id,
                    stream.request_id,
                    "run_sql",
                    query=sql[:SHOWN_SQL_CHARS],
                    error=exc.message,
                )
            )
            return exc.message
        shown = preview(result, TOOL_FRAME)
        stream.add_preface(
            protocol.tool_frame(
                stream.stream_id,
                stream.request_id,
                "run_sql",
                query=sql[:SHOWN_SQL_CHARS],
                columns=shown.columns,
                column_count=len(result.columns),
                rows=shown.rows,
                row_count=len(result.rows),
                truncated=result.truncated or shown.cut,
                duration_ms=result.duration_ms,
            )
        )
        evidence.extend(Evidence.from_rows(result.columns, result.rows, Source("query", sql)))
        return result

    def _conversation(
        self,
        history: Iterable[tuple[str, str]],
        question: str,
        workbook: dict[str, Any] | None = None,
    ) -> list[ChatMessage]:
        system = self.service.settings.system_prompt
        if workbook is not None:
            system += "\n\n" + workbook_prompt(workbook)
        messages = [ChatMessage("system", system)]
        for past_question, past_answer in history:
            messages.append(ChatMessage("user", past_question))
            messages.append(ChatMessage("assistant", past_answer))
        messages.append(ChatMessage("user", question))
        return messages


RUN_SQL_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "run_sql",
        "description": "Run one read-only DuckDB SELECT on the attached workbook's tables and "
        "get the result rows. Use it for every number you state.",
        "parameters": {
            "type": "object",
            "properties": {"sql": {"type": "string", "description": "A single SELECT."}},
            "required": ["sql"],
        },
    },
}


class SqlTool:
    """`run_sql` for models that call tools: the same read-only path as `/sql`."""

    def __init__(
        self,
        answers: Answers,
        stream: Stream,
        workbook: dict[str, Any],
        evidence: Evidence,
        client: str,
    ) -> None:
        self._answers = answers
        self._client = client
        self._stream = stream
        self._workbook = workbook
        self._evidence = evidence

    async def run(self, call: ToolCall) -> str:
        if call.name != "run_sql":
            return f"Unknown tool {call.name!r}; the only tool is run_sql."
        try:
            arguments = orjson.loads(call.arguments or "{}")
            sql = arguments["sql"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return 'Call run_sql with JSON arguments {"sql": "SELECT ..."}.'
        result = await self._answers.run_workbook_sql(
            self._stream, self._workbook, sql, self._evidence, self._client
        )
        if isinstance(result, str):
            return f"The query did not run: {result}"
        shown = preview(result, FOR_MODEL)
        return orjson.dumps(
            {
                "columns": shown.columns,
                "column_count": len(result.columns),
                "rows": shown.rows,
                "row_count": len(result.rows),
                "truncated": result.truncated or shown.cut,
            }
        ).decode()
