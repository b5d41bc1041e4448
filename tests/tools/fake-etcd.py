#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# A fake etcd gateway for the bad-input tests: answers every POST with a
# reply etcd never sends.  usage: fake-etcd.py MODE PORTFILE
#   garbage   200 with a body that is not JSON
#   shape     200 with JSON of the wrong shape (a lease grant without ID)
#   huge      200 with a body past the client's limit
#   error     500 with etcd's error shape and control bytes in the message
import http.server
import sys

mode, portfile = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        code, body = 200, b"{\"ID\": \x1b[31m not json"
        if mode == "shape":
            body = b'{"header":{},"TTL":"5"}'
        elif mode == "huge":
            body = b'{"a":"' + b"x" * (9 << 20) + b'"}'
        elif mode == "error":
            code, body = 500, b'{"error":"x","message":"bad \\u001b[31m thing","code":2}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
