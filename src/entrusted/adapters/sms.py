"""Send text messages through an HTTP SMS gateway (httpx): one-time codes to the mobile on file.

Gateways differ in everything but the idea, so the adapter speaks the smallest common shape,
`POST <url>` with a bearer token and the JSON body ``{"to": "+41790000000", "text": "..."}``,
and a provider's own API sits behind a small relay if it wants something else. Any 2xx is
success; anything else, a redirect included, is `Unavailable`. Redirects are not followed, so
the token is only ever sent to the configured URL, and only over HTTPS unless the gateway is on
loopback. Error messages name the gateway's host and the status, never the token, the number
or the gateway's reply body (which may echo both).
"""

from __future__ import annotations

import httpx

from entrusted.domain.hosts import is_loopback
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.messaging import check_sms


class HttpSmsGateway:
    """An `SmsSender` that posts to one HTTP endpoint.

    ```python
    sms = HttpSmsGateway("https://sms.example.com/v1/messages", token=secret)
    sms.send("+41790000000", "Your Example Hosting code is 123456")
    ```
    """

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise InvalidInput("sms gateway url", "is not a URL") from None
        if parsed.scheme not in {"https", "http"} or not parsed.host:
            raise InvalidInput("sms gateway url", "must be an http(s) URL with a host")
        if parsed.scheme == "http" and not is_loopback(parsed.host):
            raise InvalidInput(
                "sms gateway url", f"would send the token to {parsed.host} in clear; use https"
            )
        if not token or token != token.strip():
            raise InvalidInput("sms gateway token", "is empty or has surrounding blanks")
        if timeout <= 0:
            raise InvalidInput("sms gateway timeout", "must be positive")
        self._url = parsed
        self._where = f"SMS gateway {parsed.host}" + (f":{parsed.port}" if parsed.port else "")
        self._token = token
        self._timeout = timeout

    def send(self, to: str, text: str) -> None:
        """Hand one message to the gateway; returns once it answered 2xx."""
        check_sms(to, text)
        try:
            # One client per message: codes are rare, and nothing is left open between them.
            with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
                response = client.post(
                    self._url,
                    json={"to": to, "text": text},
                    headers={"Authorization": f"Bearer {self._token}"},
                )
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self._where} unreachable: {type(exc).__name__}") from None
        if not response.is_success:
            raise Unavailable(f"{self._where} answered HTTP {response.status_code}")

    def __repr__(self) -> str:
        return f"HttpSmsGateway({self._where})"
