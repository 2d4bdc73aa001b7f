// Fixed test keys for the fuzz targets and their seed corpora (generated once with openssl;
// test-only, never used outside fuzz/). The JWE, JWT and cosign seeds are encrypted to or
// signed by these keys, so the targets reach the code after the cryptographic checks.
#pragma once

namespace coco::fuzz {

// EC P-256 (ES256 JWTs, ECDH-ES JWEs, cosign signatures).
inline constexpr char kEcP256Pem[] = R"(
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglufctOH/lrieFSq8
mc0PD0poVNmT3raPddpzO0wA+UShRANCAAQnpNJAsd61gNkuCHO2/vuwg9FHzrYp
21MKHv8BgYV2ebzrW3GLKNTVJAXLp3d1+wfv6mRbXMQVwexoylVAQr1s
-----END PRIVATE KEY-----
)";

// RSA 2048 (RSA-OAEP JWEs).
inline constexpr char kRsa2048Pem[] = R"(
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCizGPE9+GUcVkq
wX03flt53P0qYKQqhPA8K5ksszwrfWe+dRsMKqMEaoECH6C0cGaLxjss3pRbw0Ti
HtSlAwSevVAy/Dm0IvGc21Qy+BqoAtP05GXWmUiWNo0egIm7dOKpESTt7C0oWH0u
WVORXXPfdXbpsuuGkKLGjQsRTLjs4dLrUM+AhQ2iYF3YOCIYUoXE1nOLqMFPPBbb
28hohag/hThJZla3YARY/CEo7rillA8OmDTWunLUBntnoC3gNtUWXOMWW+PVCDTf
jb7BHc5m+vMlw5AKiYvJL8T1+52by7QrHkUWBIK6mU7MXGlw9KSZze0EQkr3qSxJ
bw3iQ3b3AgMBAAECggEAAgm6ayfTQPhVJUlzF7PA0bHe9XlH9NaYWHPqsx6yuJAV
eomdDFqoSce4r7lnouhZUEpZbd3wmTvEtSGtY4UnuTkBM9/ovimO9+eVSUIPS15K
RCGQaM6fSwD3iUqlN+bT+m4iFcofiXR6ImrVSNeUzDJX0y1rOa3itOub87eiBQP6
InHhDbZIrV1mQ9J4+LPfri3wDGGOye2QmiCuDIUm435vh1foZVkIP3nnhnuKj24L
TdCsmNExLGjVPVAAAk0XjjcR4acENu8KXSwjShrutYgViE2L7/VwbbSsh8XrecYR
7Ki/YpF0Y1+rjelkWzhJe3FWwP+sWTFuGtKJ9VAcsQKBgQDjl6IvlQP2LLrWvRlg
iCZdUwzo2ddM721ZZkxf9W1yfI58OVE/ayVG0dFR88LoN/mrRNGscfTqXrQIwupk
ebS6a/q+b+8ZBgTd72e9rpWJNfqMyvFf0DfBYMUt4LovkYtjXBrdWB5xxa37fmGr
OAA8xpgqk0bxNwfAPAEqQF7BaQKBgQC3Hl1uE+smdSHgaWNsR3kFb4s+GksjftsZ
vQRGmTvJr6Z9ot5jcWfuzdyfY//wIXT8A7sryiig4GRBB4ytLdIS26rn2I9suWc7
DmSIr5fuCMT1xMxRi/RT4S90Cl9Oqj4XhhmihzWae5CuJbMSA0NDq0f5bpM/F9iD
pL4EIUUJXwKBgQDP5R5AqrVAtSFCsN+yfwvUad28AemanIbdiAWyDgWY89BQByeB
b8VQSK8VVj6vUxpcaXPCOyJGyJVZ/3qOp2IAfExCkwrsZ8QgWuT/rq9n9AfXfjY4
mIGlwli7jLFmbGPQMj1T/X9p2/IObiaXeYM2AQ7UrU27X9JTtjw2NTCZKQKBgAF7
G2JSgupStC1ubMFpao8iscuUxtrIodj5cFlpz9P3ua72bDn9psuFmq0nT+CPRLTt
Csx13BJA/k6QUxDrd/FzGVS6qZ5FeZI+sY1xbhcctwsNxmE6coVjItEbbF3kfpAO
I5Lu6P4Q1cCyyVnx8M9RSUm5HTO7a6LU6Dx8UGSdAoGBAIviDi2eajxVisQR1Kcb
WXSsWQWXBMy2Wxb9SPGyifscLjGhdJhMrAGhqGqDHyHEEPn17CnCKxTGBpc3nhpf
i9xXEidkaEZbOVxyCWiVDIsDciE4WLJGnT5aruBOWRUVutHMF2UCr06p994nJmKj
9otcJDjr5T24UooevYjnSihS
-----END PRIVATE KEY-----
)";

}  // namespace coco::fuzz
