"""``python -m negotiation_stance``: the same CLI as the ``negotiation-stance`` command."""

from negotiation_stance.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
