"""Lay out the page and wire its events. All behaviour lives in ``chat`` / ``workspace``; this is layout only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gradio as gr

from agent.config import Settings
from agent.downloads import DownloadCaps
from agent.guardrails import Guardrails
from agent.models import MODELS
from agent.oplog import process_salt
from webui.admission import SessionPolicy
from webui.chat import ChatController
from webui.chatbot import memoize_postprocess
from webui.confirm import confirmed_reset
from webui.files_panel import mark_turn_end, wire_files_panel
from webui.hosting import Hosting
from webui.interface import ChatInterface, keep_placeholder
from webui.reconnect import BEFORE_UNLOAD_JS, NEW_CHAT_JS, SAVE_HISTORY_JS, Reconnect
from webui.sessions import SessionRegistry
from webui.status import notices, sandbox_line, usage_line
from webui.visitors import Visitors
from webui.workspace import WorkspaceActions

TITLE = "Claude coding agent"
EXAMPLES = [
    "Create a React counter app with increment and decrement buttons",
    "Plot a sine and a cosine wave with matplotlib and explain the difference",
    "Write a Python function that checks whether a string is a palindrome, and test it",
    "Make a CSV of 20 fake sales rows, then chart revenue by month",
]
STATUS_REFRESH_S = 5.0
STORAGE_KEY = "claude-agent-chat"  # where the browser keeps this page's conversation (webui/resume.py)

INTRO = (
    "Ask for code, charts or a small web app. Claude writes and runs the code in a private sandbox that belongs "
    "to this chat only. A reload keeps your chat and files; the sandbox is deleted shortly after you close the "
    "tab or start a new chat."
)


@dataclass(frozen=True)
class PageOptions:
    """Knobs the app can set (from the environment in app.py)."""

    concurrency_limit: int | None = None  # None: no cap on simultaneous chats (the sandbox plan is the real cap)
    sandbox_problem: str | None = None  # why the local sandbox cannot run, shown plainly on the page
    on_spaces: bool = False
    min_yield_interval: float = 0.04
    # Send the model request from a fast listener on Enter, in parallel with ChatInterface's submit chain
    # (see webui/chat.py). Off when concurrency_limit caps chats: the early start would bypass the queue's cap.
    early_start: bool = True
    hosting: Hosting = Hosting()  # headers, login, size limits, cache cleaning (webui/hosting.py)
    guardrails: Guardrails = Guardrails()  # per-session and per-address limits (agent/guardrails.py); off here
    trust_proxy: bool = False  # the visitor's address is the first X-Forwarded-For hop (Spaces, a known proxy)
    sessions: SessionPolicy = SessionPolicy()  # reconnect grace, no-browser timeout, sandbox caps (webui/admission.py)


def build_demo(
    settings: Settings,
    provider: Any,
    options: PageOptions = PageOptions(),
    registry: SessionRegistry | None = None,
    history: list | None = None,
) -> gr.Blocks:
    """The whole page. The returned Blocks has ``.registry`` (the page's sessions) for shutdown and tests.

    ``history`` pre-fills the chat shown on load (the UI benchmark uses it to measure long conversations).
    """
    if registry is None:
        registry = SessionRegistry(settings, provider, policy=options.sessions)
    kind = getattr(provider, "kind", settings.kind)
    visitors = Visitors(options.guardrails, process_salt(), options.trust_proxy or options.hosting.spaces or options.sessions.trust_proxy, kind)
    controller = ChatController(registry, min_interval=options.min_yield_interval,
                                early_start=options.early_start and options.concurrency_limit is None,
                                limits=options.hosting.limits, visitors=visitors)
    limits = options.hosting.limits
    workspace = WorkspaceActions(registry, provider, max_upload_bytes=limits.max_upload_bytes,
                                 download_caps=DownloadCaps(limits.max_download_bytes, limits.max_zip_bytes),
                                 public=options.hosting.public)
    reconnect = Reconnect(controller)
    banner = notices(settings.missing_key_message(), options.sandbox_problem, options.on_spaces)

    # Rendered below the chat, but created first: the chat handler fills it when a turn started a web server.
    port = gr.Number(value=workspace.default_port, label="Port in the sandbox", precision=0, minimum=1,
                     maximum=65535, render=False)

    with gr.Blocks(title=TITLE, fill_height=True, analytics_enabled=False,
                   delete_cache=options.hosting.delete_cache) as demo:
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        notice = gr.Markdown(banner, visible=bool(banner), elem_id="notice")
        if options.hosting.hf_users:  # Hugging Face sign-in (webui/signin.py): Gradio adds its OAuth routes for it
            gr.LoginButton(size="sm")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=360):
                status = gr.Markdown(sandbox_line(None, kind), elem_id="sandbox-status")
                with gr.Row():
                    new_chat = gr.Button("New chat", size="sm", variant="secondary", elem_id="new-chat")
                    new_sandbox = gr.Button("New sandbox", size="sm", variant="secondary", elem_id="new-sandbox")
                confirmed_reset(new_sandbox, controller.new_sandbox, status)
                stored = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=STORAGE_KEY)
                confirmed = gr.Checkbox(False, visible=False)
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    model = gr.Dropdown(
                        choices=[(label, mid) for label, mid in MODELS] + _extra_model(settings.model),
                        value=settings.model,
                        label="Model",
                        allow_custom_value=True,
                    )
                    api_key = gr.Textbox(
                        label="Your Anthropic API key (optional)",
                        type="password",
                        placeholder="sk-ant-…",
                        info="Kept in this tab only, never stored.",
                        elem_id="api-key",
                    )
                    usage = gr.Markdown(usage_line(None), elem_id="usage")
                with gr.Accordion("Files", open=False, elem_id="files"):
                    gr.Markdown("Attach files with the paperclip in the message box, or upload here into `/home/user/uploads`.")
                    upload = gr.UploadButton("Upload to sandbox", file_count="multiple", size="sm")
                    refresh_files = gr.Button("List workspace files", size="sm")
                    file_choice = gr.Dropdown(choices=[], label="Workspace files", allow_custom_value=True, elem_id="file-choice")
                    with gr.Row():
                        download_one = gr.Button("Download file", size="sm")
                        download_zip = gr.Button("Download all (.zip)", size="sm")
                    download = gr.File(label="Download", interactive=False, elem_id="download")
                    files_note = gr.Markdown("")
            with gr.Column(scale=3, elem_id="chat-column"):
                turn_end = gr.State(0.0)  # set when a turn is over: the Files list refreshes (webui/files_panel.py)
                chat = ChatInterface(
                    mark_turn_end(controller.respond),
                    multimodal=True,
                    chatbot=memoize_postprocess(gr.Chatbot(
                        value=history,
                        label="Chat",
                        elem_id="chatbot",
                        scale=1,
                        min_height=600,
                        buttons=["copy"],
                        placeholder="**Hi!** Ask me to write and run code. Try one of the examples.",
                    )),
                    textbox=gr.MultimodalTextbox(
                        elem_id="chat-input",
                        placeholder="Ask for code, a chart, or an app…",
                        file_count="multiple",
                        show_label=False,  # named "Message" by webui/static/page.js, focused there on wide screens
                        stop_btn=True,
                    ),
                    additional_inputs=[model, api_key],
                    additional_outputs=[status, usage, port, turn_end],
                    examples=[[e] for e in EXAMPLES],
                    cache_examples=False,
                    concurrency_limit=options.concurrency_limit,
                    fill_height=True,
                    api_name="chat",
                )
                with gr.Accordion("Preview a web app", open=False, elem_id="preview") as preview_panel:
                    with gr.Row():
                        port.render()
                        open_preview = gr.Button("Open preview", elem_id="open-preview")
                    preview = gr.HTML("", elem_id="preview-frame")

        # Stop: fast path next to ChatInterface's own cancel (which only closes the handler).
        stop = chat.textbox.stop(
            controller.stop,
            [chat.chatbot],
            [chat.chatbot, chat.chatbot_state],
            queue=False,
            show_progress="hidden",
            api_visibility="undocumented",
        )
        # First, so the marked chat is on the page before Gradio's cancel ends the turn's event: the event's own
        # follow-up then copies the page into ChatInterface's history state, and the next turn starts from it.
        dispatch_first(demo, stop)
        early = chat.textbox.submit(controller.start_early, [chat.textbox, chat.chatbot_state, model, api_key], None,
                                    queue=False, show_progress="hidden", api_visibility="undocumented")
        dispatch_first(demo, early)
        keep_placeholder(demo, chat.textbox)  # Retry would blank the message box's hint
        chat.textbox.input(controller.prewarm, None, None, queue=False, show_progress="hidden", trigger_mode="once", api_visibility="undocumented")
        timer = gr.Timer(STATUS_REFRESH_S)
        timer.tick(controller.refresh, None, [status, usage], queue=False, show_progress="hidden", api_visibility="undocumented")

        def banner_for(key: str) -> dict[str, Any]:
            text = notices(None if key.strip() else settings.missing_key_message(), options.sandbox_problem, options.on_spaces)
            return gr.update(value=text, visible=bool(text))

        api_key.change(banner_for, api_key, notice, queue=False, show_progress="hidden", api_visibility="undocumented")
        upload.upload(workspace.upload, upload, files_note, api_visibility="undocumented")
        refresh_files.click(workspace.list_files, None, [file_choice, files_note], api_visibility="undocumented")
        wire_files_panel(chat, turn_end, workspace, file_choice, files_note, download, download_one, download_zip)
        open_preview.click(workspace.preview, port, preview, api_visibility="undocumented")
        # A reply that starts a web server fills in its port: the closed panel opens and shows the app by itself.
        # (While the panel is open the person may be typing a port: then they press Open preview themselves.)
        preview_open = gr.State(False)
        preview_panel.expand(lambda: True, None, preview_open, queue=False, api_visibility="undocumented")
        preview_panel.collapse(lambda: False, None, preview_open, queue=False, api_visibility="undocumented")
        port.change(workspace.auto_preview, [port, preview_open], [preview, preview_panel, preview_open],
                    api_visibility="undocumented")
        demo.unload(controller.unload)
        # A reload gets its conversation back (webui/reconnect.py); the browser keeps the chat after each turn.
        demo.load(reconnect.load, [stored], [chat.chatbot, chat.chatbot_state, stored, status, usage], queue=False,
                  show_progress="hidden", api_visibility="undocumented")
        demo.load(None, js=BEFORE_UNLOAD_JS)
        for trigger in (turn_end.change, chat.chatbot.undo, chat.chatbot.clear, chat.textbox.stop):
            # after ChatInterface's own listener on the same trigger, so the chat it reads is the updated one
            trigger(None, [chat.chatbot, stored], [stored], js=SAVE_HISTORY_JS, queue=False, show_progress="hidden",
                    api_visibility="undocumented")
        new_chat.click(reconnect.new_chat, [confirmed, stored], [chat.chatbot, chat.chatbot_state, stored, status, usage],
                       js=NEW_CHAT_JS, queue=False, show_progress="hidden", api_visibility="undocumented")

    registry.abandoned_hooks.append(lambda key: drop_gradio_state(demo, key))
    demo.registry = registry  # type: ignore[attr-defined]
    demo.controller = controller  # type: ignore[attr-defined]
    return demo


def drop_gradio_state(demo: gr.Blocks, key: str) -> None:
    """Forget Gradio's own per-session values (the chat history it keeps for each session hash) of a session
    closed for having no browser: Gradio keeps them for up to 10,000 sessions otherwise, as no heartbeat ever ends."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:
        return
    with holder.lock:
        holder.session_data.pop(key, None)
        holder.time_last_used.pop(key, None)


def dispatch_first(demo: gr.Blocks, dependency: Any) -> None:
    """Make ``dependency`` the first listener the browser runs for its trigger.

    Gradio's browser code runs the listeners of one trigger one after another, each awaited to its end, in the
    order of the config's dependency list (which is the order of ``Blocks.fns``). ``start_early`` is registered
    after ChatInterface's own submit listener, so left alone it would only be sent once that one (a full round
    trip) has finished. Moving it to the front lets its tiny request go out on the Enter itself; ChatInterface's
    chain then follows it after one small round trip.
    """
    fn_id = dependency["id"]
    fns = demo.fns  # a read-only property of the live dict: reorder it in place
    first = fns[fn_id]
    rest = [(i, fn) for i, fn in fns.items() if i != fn_id]
    fns.clear()
    fns[fn_id] = first
    fns.update(rest)


def _extra_model(model_id: str) -> list[tuple[str, str]]:
    return [] if any(mid == model_id for _, mid in MODELS) else [(model_id, model_id)]


def on_spaces() -> bool:
    return os.environ.get("SYSTEM") == "spaces" or bool(os.environ.get("SPACE_ID"))
