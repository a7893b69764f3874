"""Schemathesis hooks for the ticket API: every request is SigV4-signed for
execute-api with the credentials in the environment, after schemathesis has
built it, so the signature covers exactly the bytes sent (method, URL with
its query, Host, body). Loaded through SCHEMATHESIS_HOOKS by
tests/schemathesis.rs."""

import os
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class SigV4(requests.auth.AuthBase):
    def __init__(self):
        self.credentials = Credentials(
            os.environ["WILDRYDES_ST_ACCESS_KEY_ID"],
            os.environ["WILDRYDES_ST_SECRET_ACCESS_KEY"],
            os.environ["WILDRYDES_ST_SESSION_TOKEN"],
        )
        self.region = os.environ["WILDRYDES_ST_REGION"]

    def __call__(self, request):
        # Send the query as SigV4 encodes it (RFC 3986, spaces as %20, not
        # requests' '+'), so client and server canonicalise the same bytes.
        parts = urlsplit(request.url)
        query = urlencode(
            parse_qsl(parts.query, keep_blank_values=True), quote_via=quote, safe="-_.~"
        )
        request.url = urlunsplit(parts._replace(query=query))
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        signed = AWSRequest(
            method=request.method,
            url=request.url,
            data=body,
            headers={
                k: v for k, v in request.headers.items() if k.lower() == "content-type"
            },
        )
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            request.headers[name] = signed.headers[name]
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = SigV4()
