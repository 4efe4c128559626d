"""The chat side of the protocol: what each client frame does to sessions and streams."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from sheetstream import protocol
from sheetstream.access import TokenBook, visible
from sheetstream.errors import (
    Busy,
    NotFound,
    RateLimited,
    SheetstreamError,
    StreamExpired,
    WorkbookNotFound,
)
from sheetstream.grounding import Evidence, Source
from sheetstream.llm.base import ChatMessage, GenerationOptions, Model, ToolCall
from sheetstream.llm.text_reply import TextReply
from sheetstream.protocol import (
    BatchOptions,
    CancelFrame,
    ChatFrame,
    CloseCode,
    EndReason,
    PingFrame,
    ResumeFrame,
)
from sheetstream.ratelimit import Verdict
from sheetstream.settings import Settings
from sheetstream.storage.base import MessageRecord, Storage
from sheetstream.streaming.connection import Connection, DeliveryLimits, FrameSink
from sheetstream.streaming.generation import generate, new_record
from sheetstream.streaming.registry import Deadlines, Registry, Session
from sheetstream.streaming.stats import Stats
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
from sheetstream.workbooks.service import WorkbookService

log = logging.getLogger(__name__)

RATE_GRACE = 10  # refused messages in a row before a flooding connection is closed
SHOWN_SQL_CHARS = 8192  # of a query, in its `tool` frame (a model may write a long one)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(16)}"


class ChatService:
    def __init__(
        self,
        settings: Settings,
        model: Model,
        storage: Storage,
        workbooks: WorkbookService | None = None,
        clock: Callable[[], float] = time.monotonic,
        tokens: TokenBook | None = None,
    ) -> None:
        self.tokens = tokens or TokenBook({})
        self.workbooks = workbooks
        self.settings = settings
        self.model = model
        self.storage = storage
        self.clock = clock
        self.stats = Stats()
        self.registry = Registry(clock, settings.stream_retention_s)
        self.default_batch = BatchOptions(settings.batch_max_tokens, settings.batch_max_delay_ms)
        self.limits = DeliveryLimits(
            control_frames=settings.control_queue_frames,
            max_lag_bytes=settings.max_lag_bytes,
            send_timeout_s=settings.send_timeout_s,
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._forgetting: set[asyncio.Task[None]] = set()
        self.quotas = settings.quotas()
        # bytes of stored history per owner ('' on an open service), read from storage at the
        # owner's first answer and kept up to date by this process's answers
        self._history_used: dict[str, int] = {}

    async def start(self) -> None:
        settings = self.settings
        deadlines = Deadlines(
            send_timeout_s=settings.send_timeout_s,
            max_lag_bytes=settings.max_lag_bytes,
            first_message_s=settings.first_message_timeout_s,
            idle_s=settings.idle_timeout_s,
        )
        # nothing is in memory yet: every session without messages is a leftover
        await self._forget_empty(None)
        self._sweeper = asyncio.create_task(
            self.registry.sweep_forever(
                deadlines, swept=lambda gone: self._forget_later([s.session_id for s in gone])
            )
        )

    def _forget_later(self, session_ids: list[str]) -> None:
        """`_forget_empty` in the background: the sweeper and a refused connection never wait
        on storage."""
        task = asyncio.create_task(self._forget_empty(session_ids))
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _forget_empty(self, session_ids: list[str] | None) -> None:
        """Sessions gone from memory that never got a message leave storage too (None: all
        of them): a client connecting in a loop must not grow the database by a row each."""
        try:
            await self.storage.forget_empty_sessions(session_ids)
        except Exception:
            log.exception("could not forget empty sessions")
            return
        # one that came back meanwhile (its connection ran before this) gets its row again
        for session_id in session_ids or ():
            session = self.registry.sessions.get(session_id)
            if session is None:
                continue
            try:
                await self.storage.ensure_session(session_id, time.time(), session.owner)
            except Exception:
                log.exception("could not restore the row of session %s", session_id)

    # --- connections

    def over_capacity(self, address: str) -> str | None:
        """Why a new connection from `address` must wait, or None if it may come in."""
        total, per_address = (
            self.settings.max_connections,
            self.settings.max_connections_per_address,
        )
        if len(self.registry.connections) >= total:
            return f"server full ({total} connections); try again later"
        if per_address and self.registry.per_address[address] >= per_address:
            return f"{per_address} connections from your address already; close one or try later"
        return None

    async def connect(
        self,
        sink: FrameSink,
        session_id: str | None,
        remote: str,
        owner: str | None = None,
        address: str = "",
    ) -> Connection:
        """Register a connection in its session and send it the `session` frame.

        Raises `NotFound` for a session that belongs to another owner, and `Busy` when the
        connection caps are reached (checked again after the storage round trip, so
        connections arriving together cannot overshoot them).
        """
        session_id = session_id or new_id("ss")
        created = await self.storage.ensure_session(session_id, time.time(), owner)
        full = self.over_capacity(address)
        if full is not None:
            if created and session_id not in self.registry.sessions:
                self._forget_later([session_id])  # the row just made has no session to hold
            raise Busy(full)
        # looked up after the await: the sweeper may drop an empty session meanwhile
        session = self.registry.session(session_id, owner)
        if created:  # a new conversation: nothing to read back before answering
            session.history = deque(maxlen=self.settings.history_turns)
        conn = Connection(
            new_id("cn"),
            session.session_id,
            sink,
            self.stats,
            self.limits,
            self.clock,
            remote,
            address,
            owner,
            self.settings.messages_per_minute,
        )
        self.registry.add_connection(session, conn)
        self.stats.connections_active += 1
        self.stats.connections_total += 1
        conn.push(protocol.session_frame(session.session_id, session.resumable()))
        conn.start()
        return conn

    async def disconnect(self, conn: Connection) -> None:
        """Forget a connection; its streams go on (a dropped connection cancels nothing).

        It stays counted (by the caps, and by the sweeper's deadlines) until it has stopped."""
        if conn.connection_id not in self.registry.connections:
            return
        try:
            await conn.stop()
        finally:
            if self.registry.remove_connection(conn):
                self.stats.connections_active -= 1

    def reject(self, conn: Connection, error: SheetstreamError) -> None:
        self.stats.errors[error.code] += 1
        conn.push(protocol.error_frame(error.code, error.message, error.request_id))

    # --- frames

    def handle(self, conn: Connection, text: str) -> None:
        """Act on one client text message; bad ones get an `error` frame, never a close.

        Over the message rate it gets `rate_limited`; a client that keeps flooding is closed.
        """
        if conn.closing:
            return
        now = self.clock()
        conn.last_received = now
        per_minute = self.settings.messages_per_minute
        verdict = conn.rate.take(now, per_minute, RATE_GRACE)
        if verdict is Verdict.EXCEEDED:
            self.stats.errors[RateLimited.code] += 1
            conn.close_after_queued(CloseCode.POLICY_VIOLATION, protocol.FLOOD_CLOSE_REASON)
            return
        if verdict is Verdict.LIMITED:
            wait = conn.rate.retry_after_s(per_minute)
            self.reject(
                conn,
                RateLimited(
                    f"Over {per_minute} messages a minute; wait {wait:.1f} s before the next "
                    "(this one was not handled)."
                ),
            )
            return
        frame = None
        try:
            frame = protocol.parse_client_frame(text, default_batch=self.default_batch)
            session = self.registry.session(conn.session_id)
            if isinstance(frame, ChatFrame):
                self._chat(session, frame, conn.address)
            elif isinstance(frame, CancelFrame):
                self._cancel(session, frame)
            elif isinstance(frame, ResumeFrame):
                self._resume(conn, frame)
            elif isinstance(frame, PingFrame):
                conn.push(protocol.pong_frame(frame.ts, time.time()))
        except SheetstreamError as exc:
            if exc.request_id is None:
                exc.request_id = getattr(frame, "request_id", None)
            self.reject(conn, exc)
        except Exception:  # a bug must cost one message its answer, not the connection
            log.exception("handling a message on %s failed", conn.connection_id)
            failure = SheetstreamError("The server failed to handle this message; send it again.")
            failure.request_id = getattr(frame, "request_id", None)
            self.reject(conn, failure)

    def _chat(self, session: Session, frame: ChatFrame, address: str) -> None:
        if session.active is not None:
            raise Busy(
                "This session is still answering; wait for its `end` or send `cancel` first.",
                request_id=frame.request_id,
            )
        cap = self.settings.max_generations_per_owner
        if session.owner is not None and cap and self.registry.running_for(session.owner) >= cap:
            raise Busy(
                f"{cap} answers are already being written for this token; wait for one to "
                "end, or cancel one.",
                request_id=frame.request_id,
            )
        used = self._history_used.get(session.owner or "")
        if used is not None:
            self.quotas.check_history(used)
        workbook = self._workbook_for(session, frame)
        command = parse_command(frame.content)
        if command is not None and workbook is None:
            raise WorkbookNotFound(
                f"/{command.name} needs a workbook: upload one (POST /api/workbooks) and send "
                "its id as `workbook_id`.",
                request_id=frame.request_id,
            )
        batch = frame.batch or self.default_batch
        stream = Stream(
            new_id("st"), session.session_id, frame.request_id, frame.mode, batch, self.clock
        )
        self.registry.add_stream(session, stream)
        self.stats.streams_started[frame.mode.value] += 1
        self.stats.streams_active[frame.mode.value] += 1
        for conn in session.connections:
            conn.push(stream.start_frame)
            conn.subscribe(stream)
        # whose share of the query slots this answer's queries take
        client = session.owner if session.owner is not None else address
        stream.task = asyncio.create_task(
            self._answer(stream, frame, workbook, command, client), name=stream.stream_id
        )
        stream.task.add_done_callback(self._cancelled_before_start)

    def _workbook_for(self, session: Session, frame: ChatFrame) -> str | None:
        """The chat's workbook (attaching it to the session), else the session's, else None."""
        workbook_id = frame.workbook_id or session.workbook_id
        if workbook_id is None:
            return None
        try:
            if self.workbooks is None:
                raise WorkbookNotFound("")
            self.workbooks.find(workbook_id, session.owner)
        except WorkbookNotFound:
            raise WorkbookNotFound(
                f"Workbook {workbook_id[:64]!r} not found; upload it (POST /api/workbooks) or "
                "omit `workbook_id`.",
                request_id=frame.request_id,
            ) from None
        session.workbook_id = workbook_id
        return workbook_id

    def _cancelled_before_start(self, task: asyncio.Task[None]) -> None:
        """A task cancelled before its first step never ran `generate`; end its stream here."""
        stream = self.registry.streams.get(task.get_name())
        if stream is not None and not stream.finished:
            stream.finish(EndReason.CANCELLED)
            self.stats.streams_active[stream.mode.value] -= 1

    async def _answer(
        self,
        stream: Stream,
        frame: ChatFrame,
        workbook_id: str | None,
        command: Command | None,
        client: str,
    ) -> None:
        record = new_record(stream, frame.content, workbook_id)
        options = GenerationOptions(
            max_tokens=self.settings.max_answer_tokens, temperature=self.settings.temperature
        )
        session = self.registry.session(stream.session_id)
        owner = session.owner or ""
        try:
            if owner not in self._history_used:
                stored_bytes = await self.storage.history_bytes(owner)
                # another answer of this owner may have read and counted meanwhile: keep its
                self.quotas.check_history(self._history_used.setdefault(owner, stored_bytes))
            workbook = None
            if workbook_id is not None and self.workbooks is not None:
                workbook = await self.workbooks.get(workbook_id, session.owner)
            if session.history is None:
                session.history = await self._load_history(stream.session_id)
            messages = self._conversation(session.history, frame.content, workbook)
            evidence = profile_evidence(workbook) if workbook is not None else None
        except Exception as exc:  # found before any token: the answer ends as an error
            if not isinstance(exc, SheetstreamError):
                log.exception("preparing the answer of stream %s failed", stream.stream_id)
                exc = SheetstreamError("The answer failed inside the server; please ask again.")
            self.stats.errors[exc.code] += 1
            error = protocol.error_frame(exc.code, exc.message, stream.request_id)
            stream.finish(EndReason.ERROR, error)
            self.stats.streams_active[stream.mode.value] -= 1
            return
        # The question is stored while the model starts, not before: storage stays off the
        # time to first token. `generate` waits for this write before storing the answer.
        stored = asyncio.create_task(self.storage.add_message(record))
        model: Model = self.model
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
        await generate(
            stream,
            model,
            messages,
            options,
            self.storage,
            record,
            stored,
            self.stats,
            evidence,
            tools,
            ended=functools.partial(self._count_stored, owner),
        )
        if stream.reason is not None and stream.text:
            session.history.append((frame.content, stream.text))

    def _count_stored(self, owner: str, record: MessageRecord) -> None:
        """Count an answer against its owner's history quota as it ends, not once written:
        a slow disk must not let the next questions through uncounted."""
        if owner in self._history_used:
            self._history_used[owner] += record.stored_bytes()

    async def _load_history(self, session_id: str) -> deque[tuple[str, str]]:
        """The turns the prompt uses, and no more: a long conversation stays in storage."""
        turns: deque[tuple[str, str]] = deque(maxlen=self.settings.history_turns)
        try:
            limit = 4 * self.settings.history_turns + 4  # some turns may have no answer
            records = await self.storage.list_messages(session_id, limit=limit)
        except SheetstreamError as exc:
            log.error("history unavailable for %s: %s", session_id, exc.message)
            return turns
        turns.extend(
            (r.question, r.answer) for r in records if r.status != "streaming" and r.answer
        )
        return turns

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
        assert self.workbooks is not None
        try:
            result = await self.workbooks.query(workbook["workbook_id"], sql, client=client)
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
        system = self.settings.system_prompt
        if workbook is not None:
            system += "\n\n" + workbook_prompt(workbook)
        messages = [ChatMessage("system", system)]
        for past_question, past_answer in history:
            messages.append(ChatMessage("user", past_question))
            messages.append(ChatMessage("assistant", past_answer))
        messages.append(ChatMessage("user", question))
        return messages

    def _cancel(self, session: Session, frame: CancelFrame) -> None:
        for stream in session.streams.values():
            if stream.request_id == frame.request_id and not stream.finished:
                self.cancel_stream(stream)
                return
        raise NotFound(
            f"No running answer has request_id {frame.request_id[:64]!r}; it may have ended.",
            request_id=frame.request_id,
        )

    def cancel_stream(self, stream: Stream) -> None:
        if stream.finished or stream.cancel_requested:
            return
        stream.cancel_requested = True
        self.stats.cancels += 1
        if stream.task is not None:
            stream.task.cancel()

    def _resume(self, conn: Connection, frame: ResumeFrame) -> None:
        stream = self.registry.streams.get(frame.stream_id)
        home = self.registry.sessions.get(stream.session_id) if stream is not None else None
        if stream is None or home is None or not visible(home.owner or "", conn.owner):
            raise StreamExpired(
                f"Stream {frame.stream_id[:64]!r} is unknown or expired; its full text is in "
                "the session history (GET /api/sessions/{id}/messages)."
            )
        self.stats.resumes += 1
        conn.subscribe(stream, after_seq=frame.after_seq)

    async def delete_session(self, session_id: str, owner: str) -> bool:
        """Forget a session of `owner`: its tabs are closed, its answer stopped, its history
        deleted."""
        session = self.registry.sessions.get(session_id)
        if session is not None:
            for stream in list(session.streams.values()):
                self.cancel_stream(stream)
            for conn in list(session.connections):
                conn.close(CloseCode.NORMAL, "session deleted")
        deleted = await self.storage.delete_session(session_id)
        self._history_used.pop(owner, None)  # read again at the owner's next answer
        return deleted

    # --- shutdown

    async def shutdown(self) -> None:
        """Stop every answer (stored as interrupted), close every client with 1001."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._forgetting:
            await asyncio.wait(self._forgetting, timeout=self.settings.shutdown_grace_s)
        running = self.registry.running_streams()
        tasks = [s.task for s in running if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_s)
        for conn in list(self.registry.connections.values()):
            conn.close(CloseCode.GOING_AWAY, "server shutting down; reconnect and resume")
        for conn in list(self.registry.connections.values()):
            with contextlib.suppress(Exception):
                await self.disconnect(conn)


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
        service: ChatService,
        stream: Stream,
        workbook: dict[str, Any],
        evidence: Evidence,
        client: str,
    ) -> None:
        self._service = service
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
        result = await self._service.run_workbook_sql(
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
