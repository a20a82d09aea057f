"""What of a streamed reply is kept in the transcript (unit level)."""

from agent.reply import Block, Reply


def test_whitespace_only_text_is_not_kept_because_the_api_would_refuse_the_next_request():
    reply = Reply()
    reply.blocks[0] = Block(type="text", text="\n  ")
    reply.blocks[1] = Block(type="text", text="Hello")
    reply.blocks[2] = Block(type="thinking", text="unfinished")  # no signature: cut off, must be dropped
    assert reply.content() == [{"type": "text", "text": "Hello"}]
