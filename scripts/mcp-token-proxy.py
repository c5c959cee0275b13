"""A pass-through HTTP proxy that adds `Authorization: Bearer TOKEN` to every request, for tools
that cannot send a token themselves (the MCP conformance suite). It keeps the client's `Host`
and `Origin` as they came, so the server's Origin check sees what the client sent, and streams
answers (SSE) as they arrive.

    python3 scripts/mcp-token-proxy.py UPSTREAM_HOST:PORT TOKEN

Prints `listening on 127.0.0.1:PORT` (a port the OS chose) and serves until killed.
"""
import http.client
import http.server
import sys

UPSTREAM, TOKEN = sys.argv[1], sys.argv[2]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in HOP_BY_HOP and name.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {TOKEN}"
        upstream = http.client.HTTPConnection(UPSTREAM, timeout=120)
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            upstream.close()
        self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_HEAD = forward

    def log_message(self, format, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True
print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
