#!/usr/bin/python3
"""Makes the synthetic SNP certificate chain that snp_test uses to sign reports of shapes no
real vector covers (Turin, version 5) and reports that break one check each. Not AMD's keys:
the test hands this chain to the verifier in place of the built-in roots.

Also makes a CA, two certificates and a CRL from that CA revoking one of them (crl_*), for the
revocation checks of the TDX collateral tests.

  src/attestation/testdata/synthetic/make.py       (writes everything into its own directory)
  src/attestation/testdata/synthetic/make.py crl   (only the CRL files)
"""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
START = datetime.datetime(2000, 1, 1)
END = datetime.datetime(2099, 1, 1)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Synthetic Test Devices"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def der_int(v):
    return bytes([0x02, 0x01, v]) if v < 0x80 else bytes([0x02, 0x02, 0x00, v])


def cert(subject, issuer, pub, issuer_key, exts=()):
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(START).not_valid_after(END))
    for oid, value in exts:
        b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), False)
    return b.sign(issuer_key, hashes.SHA384())  # PKCS#1 v1.5: AMD uses PSS, real vectors cover it


def spl(bl, tee, snp, ucode, fmc=None):
    e = [("1.3.6.1.4.1.3704.1.3.1", der_int(bl)), ("1.3.6.1.4.1.3704.1.3.2", der_int(tee)),
         ("1.3.6.1.4.1.3704.1.3.3", der_int(snp)), ("1.3.6.1.4.1.3704.1.3.8", der_int(ucode))]
    if fmc is not None:
        e.append(("1.3.6.1.4.1.3704.1.3.9", der_int(fmc)))
    return e


def write(path, data):
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(data)


def main():
    ark_key = rsa.generate_private_key(65537, 2048)
    ask_key = rsa.generate_private_key(65537, 2048)
    asvk_key = rsa.generate_private_key(65537, 2048)
    vek_key = ec.generate_private_key(ec.SECP384R1())
    ark = cert("ARK-Turin", "ARK-Turin", ark_key.public_key(), ark_key)
    ask = cert("SEV-Turin", "ARK-Turin", ask_key.public_key(), ark_key)
    asvk = cert("SEV-VLEK-Turin", "ARK-Turin", asvk_key.public_key(), ark_key)
    chip8 = bytes(range(0x11, 0x19))
    # Turin: an 8-byte hwID, DER OCTET STRING wrapped; TCB fmc 1, bl 2, tee 3, snp 4, ucode 5.
    vcek = cert("SEV-VCEK", "SEV-Turin", vek_key.public_key(), ask_key,
                spl(2, 3, 4, 5, fmc=1) + [("1.3.6.1.4.1.3704.1.4", bytes([0x04, 8]) + chip8)])
    vlek = cert("SEV-VLEK", "SEV-VLEK-Turin", vek_key.public_key(), asvk_key, spl(2, 3, 4, 5, fmc=1))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    write("cas.pem", pem(ask) + pem(ark) + pem(asvk))  # the order of AMD's bundles
    write("vcek.der", vcek.public_bytes(serialization.Encoding.DER))
    write("vlek.der", vlek.public_bytes(serialization.Encoding.DER))
    write("vek.key", vek_key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


def revocation():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("CRL Test CA", "CRL Test CA", ca_key.public_key(), ca_key)
    revoked = cert("Revoked", "CRL Test CA", ec.generate_private_key(ec.SECP256R1()).public_key(),
                   ca_key)
    good = cert("Good", "CRL Test CA", ec.generate_private_key(ec.SECP256R1()).public_key(), ca_key)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name("CRL Test CA"))
           .last_update(datetime.datetime(2025, 1, 1)).next_update(datetime.datetime(2025, 2, 1))
           .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                    .serial_number(revoked.serial_number)
                                    .revocation_date(datetime.datetime(2025, 1, 1)).build())
           .add_extension(x509.CRLNumber(42), False)
           .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    write("crl_certs.pem", pem(ca) + pem(revoked) + pem(good))
    write("crl.der", crl.public_bytes(serialization.Encoding.DER))
    write("crl.pem", crl.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["crl"]:
        revocation()
    else:
        main()
        revocation()
