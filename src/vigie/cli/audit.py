"""vigie audit: sign a tree head now, verify the whole log, show the log's public key."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import typer

from vigie.audit.background import follow, run_round
from vigie.audit.sequencer import public_key_text
from vigie.audit.verify import verify_log
from vigie.cli.common import console, fail, runtime
from vigie.config import Settings
from vigie.crypto import keyfile

app = typer.Typer(help="Journal d'accès : têtes signées, vérification.", no_args_is_help=True)


@app.command("sign")
def sign() -> None:
    """Sequence every committed entry and sign a tree head now."""
    with runtime() as rt:
        try:
            done = run_round(rt, force=True)
        except keyfile.KeyFileError as exc:
            raise fail(str(exc)) from exc
    assert done.head is not None  # a forced round always signs
    console.print(
        f"{done.added} entrée(s) séquencée(s) ; tête signée : taille {done.head.head.tree_size}, "
        f"racine {done.head.head.root_hash.hex()}",
        highlight=False,
    )


@app.command("follow")
def follow_log(
    supervised: bool = typer.Option(
        False,
        help="Lancé par un processus parent (vigie serve) : s'arrête quand son entrée standard "
        "se ferme (le parent s'arrête ou disparaît) ; SIGTERM et Ctrl-C sont pour le parent.",
    ),
) -> None:
    """Sequence the log continuously, a round every VIGIE_AUDIT_SEQUENCE_SECONDS, until
    SIGTERM or Ctrl-C (then a last round); what `vigie serve` runs beside its workers."""
    stop = threading.Event()
    if supervised:
        # A signal to the whole process group must not stop this one before the workers: the
        # parent closes the pipe once they have finished (the system closes it if it dies).
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
        threading.Thread(target=_stop_at_eof, args=(stop,), daemon=True).start()
    else:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: _set_later(stop))
    with runtime() as rt:
        if not follow(rt, stop):
            raise fail("dernier tour du séquenceur en échec : relancer `vigie audit sign`")


def _stop_at_eof(stop: threading.Event) -> None:
    sys.stdin.buffer.read()  # returns at end of file only
    stop.set()


def _set_later(stop: threading.Event) -> None:
    """From a signal handler: ``Event.set`` takes a lock the interrupted thread may hold."""
    threading.Thread(target=stop.set, daemon=True).start()


@app.command("public-key")
def public_key() -> None:
    """Print the log's Ed25519 public key (base64), to publish and pin in verifiers."""
    try:
        keys = keyfile.load(Settings().keys)
        print(public_key_text(keys))
    except keyfile.KeyFileError as exc:
        raise fail(str(exc)) from exc


@app.command("verify")
def verify(
    published: Path | None = typer.Option(
        None, help="Fichier des têtes publiées (par défaut : VIGIE_AUDIT_HEADS_FILE)."
    ),
    workers: int = typer.Option(os.cpu_count() or 1, help="Processus de vérification."),
) -> None:
    """Recompute every leaf and the tree; check every signed and published head."""
    with runtime() as rt:
        started = time.perf_counter()
        try:
            report = verify_log(
                rt.engine,
                rt.keys,
                log_id=rt.settings.audit_log_id,
                published=published or rt.settings.audit_heads_file,
                workers=max(1, workers),
            )
        except keyfile.KeyFileError as exc:
            raise fail(str(exc)) from exc
        elapsed = time.perf_counter() - started
    console.print(
        f"{report.leaves} feuille(s), {report.heads} tête(s) signée(s) en base, "
        f"{report.published} tête(s) publiée(s), {report.pending} entrée(s) en attente ; "
        f"{elapsed:.1f} s",
        highlight=False,
    )
    for finding in report.findings:
        console.print(f"  [{finding.kind}] {finding.message}", highlight=False)
    if not report.ok:
        raise fail(f"journal altéré : {len(report.findings)} anomalie(s)")
    console.print("journal intègre")
