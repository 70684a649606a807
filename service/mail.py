"""Sending mail: SMTP (host, port, STARTTLS, auth from FEEDLOOP_SMTP_URL) or, on the
embedded default, a log file so that nothing leaves a developer's machine."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from service.domain.mail import Mail

SMTP_TIMEOUT = 30


class DeliveryError(Exception):
    """A mail was not accepted; ``temporary`` says whether trying again may help."""

    def __init__(self, message: str, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


def to_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "localhost"
    # Derived from the mail, not the host or the moment: a mail re-sent after a
    # worker crashed mid-way, by whichever worker, carries the same Message-ID.
    message["Message-ID"] = f"<{mail.key}@{domain}>" if mail.key else make_msgid(domain=domain)
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    return message


class SmtpSender:
    """smtp://user:password@host:port?starttls=true&from=surveys@example.com (smtps:// for TLS)."""

    def __init__(self, url: str) -> None:
        parts = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = query.get("starttls", "false").lower() in ("1", "true", "yes")
        self.sender = query.get("from", "feedloop@localhost")

    def _session(self, timeout: float) -> smtplib.SMTP:
        """A connected, secured and logged-in session (a context manager)."""
        cls = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        smtp = cls(self.host, self.port, timeout=timeout)
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def probe(self, timeout: float = 10) -> None:
        """Connect, secure and log in as a delivery would, without sending (`feedloop check`)."""
        with self._session(timeout) as smtp:
            smtp.noop()

    def send(self, mail: Mail) -> None:
        message = to_message(mail, self.sender)
        try:
            with self._session(SMTP_TIMEOUT) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise DeliveryError(f"recipient refused: {codes}",
                                temporary=all(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(f"SMTP {error.smtp_code}: {error.smtp_error!r}",
                                temporary=error.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP server unreachable: {error}", temporary=True) from None


class LogSender:
    """The embedded default: mails are appended to a file instead of being sent."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, mail: Mail) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as log:
            log.write(bytes(to_message(mail, "feedloop@localhost")) + b"\n\n")


def make_sender(smtp_url: str, data_dir: Path):
    """SMTP when FEEDLOOP_SMTP_URL is set, otherwise the mail log under the data dir."""
    return SmtpSender(smtp_url) if smtp_url else LogSender(data_dir / "mail.log")
