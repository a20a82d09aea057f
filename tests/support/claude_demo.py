"""The stand-in's demo responder: a canned conversation that exercises every tool, for the page and hand-run
demos (``python -m tests.support.claude_standin``) when no test scripts the replies."""

from __future__ import annotations

import re

from agent.presenter import count_of
from tests.support.claude_script import (
    Block,
    RecordedRequest,
    Reply,
    Response,
    Text,
    Thinking,
    Tokens,
    ToolUse,
    result_text,
    user_text,
)

# --------------------------------------------------------------------------------------------------
# The demo responder: a canned conversation exercising every tool (for the page and hand-run demos)
# --------------------------------------------------------------------------------------------------

_CHART_CODE = """import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(0, 4 * np.pi, 200)
plt.figure(figsize=(6, 3))
plt.plot(x, np.sin(x), label="sin(x)")
plt.plot(x, np.cos(x), label="cos(x)")
plt.legend()
plt.title("Waves")
plt.show()
print("drew", len(x), "points")
"""

_TABLE_CODE = """import pandas as pd
df = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp_c": [4.5, 19.0, 31.2]})
df
"""

_SCRIPT = 'import sys\nprint("hello from", sys.version.split()[0])\nprint("sum of 1..100 =", sum(range(101)))\n'

# The page's first example ("Create a React counter app ..."): one self-contained page, no CDN and no npm, so the
# key-less demo works offline. A tiny React-like pattern: state, a render function, event handlers.
_COUNTER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Counter</title>
<style>
  body { font-family: system-ui, sans-serif; display: grid; place-items: center; min-height: 90vh; margin: 0; }
  .counter { text-align: center; }
  .count { font-size: 4rem; margin: 0.5rem 0; }
  button { font-size: 1.5rem; width: 3rem; margin: 0 0.5rem; cursor: pointer; }
</style>
</head>
<body>
<div id="root"></div>
<script>
// A counter component in the React style (state -> render), written in plain JavaScript.
function useState(initial, render) {
  let value = initial;
  return [() => value, (next) => { value = next; render(); }];
}

function Counter(root) {
  const [count, setCount] = useState(0, () => render());
  function render() {
    root.innerHTML = "";
    const box = document.createElement("div");
    box.className = "counter";
    const title = document.createElement("h1");
    title.textContent = "Counter";
    const shown = document.createElement("p");
    shown.className = "count";
    shown.id = "count";
    shown.textContent = String(count());
    const minus = document.createElement("button");
    minus.id = "decrement";
    minus.textContent = "−";
    minus.setAttribute("aria-label", "decrement");
    minus.onclick = () => setCount(count() - 1);
    const plus = document.createElement("button");
    plus.id = "increment";
    plus.textContent = "+";
    plus.setAttribute("aria-label", "increment");
    plus.onclick = () => setCount(count() + 1);
    box.append(title, shown, minus, plus);
    root.append(box);
  }
  render();
}

Counter(document.getElementById("root"));
</script>
</body>
</html>
"""


def _plan(prompt: str) -> list[list[ToolUse]]:
    """Which tool calls to make, step by step, for a prompt (keywords pick a small scenario)."""
    p = prompt.lower()
    if any(w in p for w in ("hello", "hi ", "text only", "just talk")) and "file" not in p:
        return []
    if "markdown" in p:
        return []
    if "react" in p or "counter" in p:
        return [[ToolUse("write_file", {"path": "counter-app/index.html", "content": _COUNTER_PAGE})],
                [ToolUse("run_command", {"command": "python3 -m http.server 8000", "cwd": "counter-app",
                                         "background": True})]]
    if any(w in p for w in ("chart", "plot", "graph")):
        return [[ToolUse("execute_code", {"code": _CHART_CODE, "language": "python"}, chunk=12, delay=0.01)]]
    if "table" in p:
        return [[ToolUse("execute_code", {"code": _TABLE_CODE, "language": "python"}, chunk=12, delay=0.01)]]
    if "parallel" in p or "sleep" in p:
        return [[ToolUse("run_command", {"command": f"sleep 1 && echo done {i}"}) for i in (1, 2, 3)]]
    if "slow" in p or "long" in p:
        return [[ToolUse("run_command", {"command": "for i in $(seq 1 10); do echo tick $i; sleep 1; done"})]]
    if "fail" in p or "error" in p:
        return [[ToolUse("run_command", {"command": "echo about to fail >&2; exit 3"})]]
    if "server" in p or "preview" in p:
        return [[ToolUse("run_command", {"command": "mkdir -p site && echo '<h1>Hello from the sandbox</h1>' > site/index.html && "
                                                    "(nohup python -m http.server 8000 --directory site >/tmp/http.log 2>&1 &) && sleep 0.5 && echo serving on 8000"})]]
    if "file" in p:
        return [[ToolUse("write_file", {"path": "notes/hello.txt", "content": "Hello, sandbox!\nLine two: é ✓\n"})],
                [ToolUse("read_file", {"path": "notes/hello.txt"})]]
    if "list" in p:
        return [[ToolUse("list_files", {"path": "."})]]
    if any(w in p for w in ("command", "shell", "bash")):
        return [[ToolUse("run_command", {"command": "echo hi from $(whoami); uname -s; ls -la"})]]
    # default: a tour of every tool
    return [
        [ToolUse("execute_code", {"code": _CHART_CODE, "language": "python"}, chunk=12, delay=0.01)],
        [ToolUse("write_file", {"path": "hello.py", "content": _SCRIPT})],
        [ToolUse("run_command", {"command": "python hello.py"}), ToolUse("read_file", {"path": "hello.py"})],
        [ToolUse("list_files", {"path": "."})],
    ]


_STEP_LINES = {
    "execute_code": "Let me run some Python for that.",
    "write_file": "I'll write the file first.",
    "read_file": "Now let me read it back.",
    "run_command": "Running it in the shell.",
    "list_files": "Let me look at the workspace.",
}

_MARKDOWN = """Here is some **markdown**:

| language | typing |
|---|---|
| Python | dynamic |
| Rust | static |

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```
"""


def demo_responder(req: RecordedRequest) -> Response:
    """A canned agent: picks a scenario from the person's last message, calls tools step by step, then sums up.

    The step is the number of assistant messages since the person's last text message, so the conversation
    works with any agent that sends back the transcript (as the Messages API requires).
    """
    messages = req.messages
    start = max((i for i, m in enumerate(messages) if m.get("role") == "user" and user_text(m).strip()), default=0)
    prompt = user_text(messages[start]) if messages else ""
    step = sum(1 for m in messages[start:] if m.get("role") == "assistant")
    plan = _plan(prompt)
    thinking = req.body.get("thinking") not in (None, {"type": "disabled"})
    usage = Tokens(input=180 + 40 * len(messages), output=60, cache_write=1200 if step == 0 else 0,
                   cache_read=0 if step == 0 else 1200)
    blocks: list[Block] = []
    if thinking:
        blocks.append(Thinking(f"The user asked: {prompt[:60]!r}. Step {step + 1} of {len(plan) + 1}.",
                               signature=f"sig-demo-{step}", chunks=4, delay=0.02))
    if step < len(plan):
        calls = plan[step]
        blocks.append(Text(_STEP_LINES.get(calls[0].name, "Working on it."), chunks=3, delay=0.02))
        blocks.extend(calls)
        return Reply(tuple(blocks), usage=usage)
    if "markdown" in prompt.lower():
        summary = _MARKDOWN
    elif plan and plan[0][0].input.get("path") == "counter-app/index.html":
        summary = ("The counter app is running: `counter-app/index.html` is served by `python3 -m http.server "
                   "8000`. Open it in the **Preview** (port 8000) and click + and − to change the count.")
    elif not plan:
        summary = f"Hello! I'm the stand-in for Claude. You said: {prompt[:200]}"
    else:
        seen = [result_text(b) for m in messages if m.get("role") == "user" for b in (m.get("content") or [])
                if isinstance(b, dict) and b.get("type") == "tool_result"]
        # what the tool printed, without the agent's note to the model about what the person was shown
        last = re.sub(r"(?m)^\[displayed to the user[^\]\n]*\]\n?", "", seen[-1]).strip() if seen else ""
        summary = f"Done — I used {count_of(sum(len(s) for s in plan), 'tool call')}."
        if last:
            summary += f" The last result began with:\n\n```\n{last[:300]}\n```"
    words = summary.split(" ")
    blocks.append(Text(summary, chunks=max(1, len(words) // 2), delay=0.02))
    return Reply(tuple(blocks), usage=usage)
