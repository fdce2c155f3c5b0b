"""Chain files through django-storages' S3 backend against a real S3 HTTP server on loopback.

``moto`` runs in server mode on 127.0.0.1 (a real HTTP endpoint, not a patched boto),
so this exercises the same code path as MinIO, Ceph or AWS in production.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from certificates.services import ChainRejected, chain_create, chain_files_atomic
from tests import pki

BUCKET = "obs-chains"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "location": "obs",
                "file_overwrite": False,
                "default_acl": None,
                "querystring_auth": True,
            },
        },
    }
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.fixture(scope="module")
def chain_bytes() -> bytes:
    root, intermediate = pki.chain(intermediates=1)
    return (intermediate.pem + root.pem).encode()


def test_an_accepted_chain_is_stored_as_an_object(acme, bucket, chain_bytes):
    chain = chain_create(tenant=acme, name="Berlin", data=chain_bytes, filename="berlin.pem")

    assert keys(bucket) == [f"obs/{chain.file.name}"]
    body = bucket.get_object(Bucket=BUCKET, Key=f"obs/{chain.file.name}")["Body"].read()
    assert body == chain_bytes
    with chain.file.open("rb") as fh:
        assert fh.read() == chain_bytes


def test_a_second_upload_of_the_same_file_gets_its_own_object(acme, bucket, chain_bytes):
    first = chain_create(tenant=acme, name="One", data=chain_bytes, filename="chain.pem")
    second = chain_create(tenant=acme, name="Two", data=chain_bytes, filename="chain.pem")

    assert first.file.name != second.file.name
    assert len(keys(bucket)) == 2


def test_a_refused_upload_leaves_no_object(acme, bucket, chain_bytes):
    root = pki.issue("Root")
    with pytest.raises(ChainRejected):
        chain_create(
            tenant=acme,
            name="Leaky",
            data=(root.pem + pki.rsa_key_pem(root.key)).encode(),
            filename="leaky.pem",
        )

    assert keys(bucket) == []


def test_objects_stored_in_a_failed_import_are_deleted(acme, bucket, chain_bytes):
    with pytest.raises(RuntimeError), chain_files_atomic():
        chain_create(tenant=acme, name="Row 1", data=chain_bytes, filename="a.pem")
        raise RuntimeError("row 2 is bad")

    assert keys(bucket) == []
