"""An SMTP server on 127.0.0.1 that accepts every message, for LNbits' e-mail
notifications: LNbits always says STARTTLS and logs in, so this offers both
(a self-signed certificate; smtplib does not verify it) and takes any password.

    async with SmtpSink() as sink:
        ... sink.port ...
        await wait_until(lambda: sink.messages)
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
import tempfile
from dataclasses import dataclass, field
from email import message_from_string
from email.message import Message
from pathlib import Path


def _self_signed(folder: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class SmtpSink:
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    port: int = 0

    async def __aenter__(self) -> SmtpSink:
        self._folder = tempfile.TemporaryDirectory()
        self._tls = _self_signed(Path(self._folder.name))
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()
        self._folder.cleanup()

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in (m["To"] or "")]

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async def say(line: str) -> None:
            writer.write(f"{line}\r\n".encode())
            await writer.drain()

        await say("220 127.0.0.1 test SMTP")
        try:
            while line := (await reader.readline()).decode().rstrip("\r\n"):
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    await say("250-127.0.0.1\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN")
                elif verb == "STARTTLS":
                    await say("220 go ahead")
                    # Python 3.11+, as LNbits 1.6 runs here (mypy checks 3.10).
                    await writer.start_tls(self._tls)  # type: ignore[attr-defined]
                elif verb == "AUTH":
                    await self._auth(line, reader, say)
                elif verb == "DATA":
                    await say("354 end with <CRLF>.<CRLF>")
                    self.messages.append(message_from_string(await _data(reader)))
                    await say("250 queued")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:  # MAIL, RCPT, RSET, NOOP
                    await say("250 ok")
        finally:
            writer.close()

    async def _auth(self, line: str, reader: asyncio.StreamReader, say) -> None:
        parts = line.split()
        if parts[1].upper() == "PLAIN":
            self.logins.append(base64.b64decode(parts[2]).split(b"\0")[1].decode())
        else:  # LOGIN: the user and the password, each asked for
            await say("334 VXNlcm5hbWU6")
            user = base64.b64decode(await reader.readline()).decode()
            await say("334 UGFzc3dvcmQ6")
            await reader.readline()
            self.logins.append(user)
        await say("235 authenticated")


async def _data(reader: asyncio.StreamReader) -> str:
    lines = []
    while (line := (await reader.readline()).decode()) not in (".\r\n", ".\n", ""):
        lines.append(line[1:] if line.startswith("..") else line)
    return "".join(lines)
