"""Flask's signed-cookie sessions, opened only for requests that carry a session cookie.

API and feed requests carry none, and Flask would otherwise build the signing serializer for each of them.
"""

from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface


class CookieSessions(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()  # a new, empty session; saved as usual if something writes to it
        return super().open_session(app, request)
