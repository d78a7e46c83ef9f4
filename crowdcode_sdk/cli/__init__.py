"""The ``crowdcode`` command line. Core commands live here; adapters add theirs through the
``crowdcode.commands`` entry-point group (see :mod:`crowdcode_sdk.cli.main`)."""
