# Attach to an environment's shell with websocket-client, as a Python user
# would: type a command, read its output, resize, and read the exit code.
import json, sys, websocket

url, token = sys.argv[1], sys.argv[2]
ws = websocket.create_connection(url, header=["Authorization: Bearer " + token], timeout=30)

def until(pred):
    out = ""
    while True:
        msg = json.loads(ws.recv())
        if msg["type"] in ("stdout", "stderr"):
            out += msg["data"]
        if pred(msg, out):
            return msg, out

ws.send(json.dumps({"type": "stdin", "data": "echo hello-$((6*7))\n"}))
# Back at the prompt before resizing, as a user would be.
until(lambda m, out: "hello-42" in out and out.endswith("# "))
ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 33}))
ws.send(json.dumps({"type": "stdin", "data": "stty size\n"}))
until(lambda m, out: "33 120" in out)
ws.send(json.dumps({"type": "stdin", "data": "exit 3\n"}))
msg, _ = until(lambda m, out: m["type"] == "exit")
print("exit", msg["exit_code"])
