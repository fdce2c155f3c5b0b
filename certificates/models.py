"""Root certificate chains that devices pin, and the certificates parsed from them."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant

#: Extensions kept on the stored file, so an operator browsing the storage can open it.
CHAIN_FILE_EXTENSIONS = frozenset({".pem", ".crt", ".cer", ".der", ".p7b", ".p7c"})


def chain_upload_path(instance: CertificateChain, filename: str) -> str:
    # The original name is kept in ``original_filename``; the stored name only has to be
    # unique and never overwrite an earlier upload (storages are set to not overwrite,
    # so the same file uploaded twice gets a suffix). Nothing the customer typed goes
    # into the path but a known extension.
    extension = os.path.splitext(filename)[1].lower()
    if extension not in CHAIN_FILE_EXTENSIONS:
        extension = ".pem"
    return f"chains/{instance.tenant.slug}/{instance.sha256[:16]}{extension}"


class CertificateChain(models.Model):
    """One uploaded chain file. Never modified once stored; a replacement is a new row.

    A route points at its current chain; a replaced chain keeps ``replaced_at``,
    ``replaced_by`` and ``superseded_by``, so the history of what devices were told to
    pin stays readable.
    """

    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("company account"),
        on_delete=models.CASCADE,
        related_name="certificate_chains",
    )
    name = models.CharField(
        verbose_name=_("name"),
        max_length=200,
        help_text=_("A label, such as the UMS or ICG it belongs to."),
    )
    file = models.FileField(
        verbose_name=_("file"), upload_to=chain_upload_path, max_length=255, editable=False
    )
    original_filename = models.CharField(
        verbose_name=_("original filename"), max_length=255, blank=True, editable=False
    )
    sha256 = models.CharField(
        _("file SHA-256"),
        max_length=64,
        editable=False,
        help_text=_("SHA-256 of the uploaded file, hex."),
    )
    pem = models.TextField(
        verbose_name=_("pem"),
        editable=False,
        help_text=_("The certificates, normalised, root first."),
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    uploaded_at = models.DateTimeField(verbose_name=_("uploaded at"), auto_now_add=True)
    replaced_at = models.DateTimeField(
        verbose_name=_("replaced at"), null=True, blank=True, editable=False
    )
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("replaced by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    superseded_by = models.ForeignKey(
        "self",
        verbose_name=_("superseded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supersedes",
        editable=False,
    )

    class Meta:
        ordering = ["tenant__name", "name", "-uploaded_at"]
        verbose_name = _("root certificate chain")
        verbose_name_plural = _("root certificate chains")

    def __str__(self) -> str:
        if self.replaced_at:
            return gettext("%(name)s (replaced)") % {"name": self.name}
        return self.name


class Certificate(models.Model):
    """One certificate of a chain, as parsed at upload time. Read-only."""

    chain = models.ForeignKey(
        CertificateChain,
        verbose_name=_("chain"),
        on_delete=models.CASCADE,
        related_name="certificates",
    )
    position = models.PositiveSmallIntegerField(
        verbose_name=_("position"),
        help_text=_("0 is the root; each next one is issued by the one before."),
    )
    subject = models.TextField(verbose_name=_("subject"))
    issuer = models.TextField(verbose_name=_("issuer"))
    serial = models.CharField(verbose_name=_("serial"), max_length=100)
    not_before = models.DateTimeField(verbose_name=_("not before"))
    not_after = models.DateTimeField(verbose_name=_("not after"), db_index=True)
    sha256 = models.CharField(_("SHA-256 fingerprint"), max_length=95)
    key_description = models.CharField(
        verbose_name=_("key description"),
        max_length=40,
        help_text=_("Key type and size, such as RSA 4096."),
    )
    is_ca = models.BooleanField(_("CA"))
    self_signed = models.BooleanField(verbose_name=_("self signed"))
    pem = models.TextField(verbose_name=_("pem"))

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["chain", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "position"], name="certificate_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return self.subject
