//! Digests pinned by the fixtures in `testdata/` (see `testdata/README.md`). `tests/harness.rs`
//! checks these constants against the layout files.

/// linux/amd64 image manifest shared by all four BuildKit fixtures (476 bytes).
pub const AMD64: &str = "sha256:baf833cb2d6c6f763285cf755c1d68e3debbe6e0f520299c6d86cdcc8329a6da";
/// linux/arm64 image manifest of `legacy-multi` (476 bytes).
pub const ARM64: &str = "sha256:b27e98de9b5b64cae50aea85994da3a3d0b04d006b80095878edad3d469ce16e";

/// One BuildKit OCI layout under `testdata/buildkit-v0.32.2/`.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// Directory name under `testdata/buildkit-v0.32.2/`.
    pub name: &'static str,
    /// `org.opencontainers.image.ref.name` of the single `index.json` descriptor.
    pub ref_name: &'static str,
    /// The image index (`index.json`'s only descriptor).
    pub index: &'static str,
    pub index_size: u64,
    /// `(subject = vnd.docker.reference.digest, attestation manifest, its size)` in index order.
    pub attestations: &'static [(&'static str, &'static str, u64)],
    /// Whether the attestation manifests are legacy (no `subject`/`artifactType`) and need converting.
    pub legacy: bool,
}

impl Fixture {
    /// `testdata/buildkit-v0.32.2/<name>` as an absolute path.
    pub fn dir(&self) -> std::path::PathBuf {
        super::testdata(&format!("buildkit-v0.32.2/{}", self.name))
    }
}

pub const LEGACY_V1: Fixture = Fixture {
    name: "legacy-v1",
    ref_name: "1",
    index: "sha256:4b3b88d4e322b00322062bc7047e25cc70d8ae18dc5696dc6231651b134a9f29",
    index_size: 855,
    attestations: &[(
        AMD64,
        "sha256:6a9a7b8969562109184878bc6a4b67b4a7d6484b98c27edcf1f9e227554b2769",
        834,
    )],
    legacy: true,
};

pub const LEGACY_V02: Fixture = Fixture {
    name: "legacy-v02",
    ref_name: "1",
    index: "sha256:549c3a2d8689efc0f22f91c6a6c58522b92ed0a480c40d944c3df5e18dde9f40",
    index_size: 855,
    attestations: &[(
        AMD64,
        "sha256:09ef2fba2fd45aacc1a495cb530a1edc56410fd2354f4b43c63432684f47e4e5",
        836,
    )],
    legacy: true,
};

pub const OCIARTIFACT_V1: Fixture = Fixture {
    name: "ociartifact-v1",
    ref_name: "1",
    index: "sha256:2444e6a3cac3eb1d4a4dfce79c36e418b40f722482414880983372adf5a3f993",
    index_size: 856,
    attestations: &[(
        AMD64,
        "sha256:d261a363fd1a297f01328ceb9892ea21f214807db4237e8839d1240b6b296c28",
        1106,
    )],
    legacy: false,
};

pub const LEGACY_MULTI: Fixture = Fixture {
    name: "legacy-multi",
    ref_name: "multi",
    index: "sha256:85d071c67081b9bf1ebc9ddc5968f26731439c418caf454d96fe989715266ea4",
    index_size: 1607,
    attestations: &[
        (
            AMD64,
            "sha256:a54948f3233453fce2ad27518ee1bbce3a01483bc67b49b8a42901492fff0226",
            834,
        ),
        (
            ARM64,
            "sha256:33a6f3a2a2dd4ce77b77664e207bb8194a91acf1037780f4b3cc4a348452f5a7",
            834,
        ),
    ],
    legacy: true,
};

pub const BUILDKIT: [Fixture; 4] = [LEGACY_V1, LEGACY_V02, OCIARTIFACT_V1, LEGACY_MULTI];

/// A row of the "Expected conversion results" table in `testdata/README.md`.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub fixture: &'static str,
    /// The platform manifest the referrer points at.
    pub subject: &'static str,
    /// Converted OCI 1.1 attestation manifest (two-space indent, no trailing newline).
    pub converted: &'static str,
    pub converted_size: u64,
    /// Compact referrers index (formats.md §5(e)) listing just that manifest, no annotations.
    pub referrers_index: &'static str,
    pub referrers_index_size: u64,
}

pub const EXPECTED_CONVERSIONS: [Expected; 5] = [
    Expected {
        fixture: "legacy-v1",
        subject: AMD64,
        converted: "sha256:58abb913e49c265ba6264739e3595589e9ca0e15f21531cdf83b224013113fb1",
        converted_size: 1106,
        referrers_index: "sha256:120694fc0803a5313f0573a9921ea92b9f04bb88c6cb248cc956443819d389de",
        referrers_index_size: 310,
    },
    Expected {
        fixture: "legacy-v02",
        subject: AMD64,
        converted: "sha256:8be4a296fc1cad7219904f8e707c033e9b19ff9eda5cd6b87f318b543ec0f44e",
        converted_size: 1108,
        referrers_index: "sha256:536b3be56ae91ad30edf8759e31ec86a834ea8d063fa5c2999565e5d562c64d2",
        referrers_index_size: 310,
    },
    Expected {
        fixture: "legacy-multi",
        subject: AMD64,
        converted: "sha256:ec50a12a05f37a57c1c48ab7a7e27d52aac56b83c3b078fdc79342b109774baf",
        converted_size: 1106,
        referrers_index: "sha256:14d080a4e00354afc957ea570537cd3a017b2bef56758b9d2f2ca2dd353beeb5",
        referrers_index_size: 310,
    },
    Expected {
        fixture: "legacy-multi",
        subject: ARM64,
        converted: "sha256:94b093a90d4c9d934cf4dd7ae72530a5d177da708b57e6bb9c87ef2bbef8db13",
        converted_size: 1106,
        referrers_index: "sha256:4729e75610061b450feaaa5f87e76849a2c8a764acd6014c74be75696ebb1a9b",
        referrers_index_size: 310,
    },
    Expected {
        fixture: "ociartifact-v1",
        subject: AMD64,
        // already an OCI 1.1 artifact: BuildKit's own manifest, unchanged
        converted: "sha256:d261a363fd1a297f01328ceb9892ea21f214807db4237e8839d1240b6b296c28",
        converted_size: 1106,
        referrers_index: "sha256:b406e8946fcb0aa5673b701602a0af7c84053696f2b8e02269125db03321c729",
        referrers_index_size: 310,
    },
];

/// `testdata/dockerhub/alpine-latest`: Docker Hub `alpine:latest` (Alpine 3.23.2), BuildKit 0.16.0
/// attestations, image filesystem layers NOT included (so it cannot be `skopeo copy`-ed whole).
pub const ALPINE_DIR: &str = "dockerhub/alpine-latest";
pub const ALPINE_REF_NAME: &str = "latest";
pub const ALPINE_INDEX: &str =
    "sha256:865b95f46d98cf867a156fe4a135ad3fe50d2056aa3f25ed31662dff6da4eb62";
pub const ALPINE_INDEX_SIZE: u64 = 9218;
/// `(platform, platform manifest, attestation manifest, attestation manifest size)` in index order.
pub const ALPINE_PLATFORMS: [(&str, &str, &str, u64); 8] = [
    (
        "linux/amd64",
        "sha256:1882fa4569e0c591ea092d3766c4893e19b8901a8e649de7067188aba3cc0679",
        "sha256:f9fd905ebc9c0e5e6dac67fb89753e85b7b831273995bdca248ba4cb74ba2dc9",
        838,
    ),
    (
        "linux/arm/v6",
        "sha256:cd194307b3514d0b3eb229a1f6b0c92be4dd0e714b109a488269837170317944",
        "sha256:12dea40f86f302a827397587f50224bd18770941bca6ac880390cb336303b778",
        566,
    ),
    (
        "linux/arm/v7",
        "sha256:d320aee528174169f76afc8ebd02feb0a42824bc2264d0da1761edff6f06bc5f",
        "sha256:823ade00a6dc01039ba8c7bc8d5cc8075ee45ad513b3295a90083a315a05ce3c",
        838,
    ),
    (
        "linux/arm64/v8",
        "sha256:410dabcd6f1d53f1f4e5c1ce9553efa298ca6bcdd086dfc976b8f659d58b46d2",
        "sha256:b8b03df6fb6f8b5b7d23c7b607747e2071243bac0db5112e956591a43da59cff",
        838,
    ),
    (
        "linux/386",
        "sha256:16ff8a639f58b38d94b054e94c106dbbd8a60d45f8b1989f98516a3e8e0792ad",
        "sha256:10557b46ac595cfe54930c99d40caeda9a15f1d3e493090b06beba5b8b70bd1b",
        838,
    ),
    (
        "linux/ppc64le",
        "sha256:a78fa7e4e73252c55e6ebd28dfb1e78d82a0f70d392e2cddcc7f545bf7d7ec16",
        "sha256:bd761fcd6f08b37be19e84f4e6c63f3665c0357ba2174a65f19f8078bb2cc0e9",
        838,
    ),
    (
        "linux/riscv64",
        "sha256:6b283ad1125de2c183bcff24bc68f96eb034d09dd3ee56b8c7ba7dc832e5c1e7",
        "sha256:89dcdffaf28d22684df7b256a089f54706b7890bde407889f5ba90e620e3cae0",
        838,
    ),
    (
        "linux/s390x",
        "sha256:e1fe68c8d560a9853093a5e8ee615f3808116d97b634b774ccbace73d1de8956",
        "sha256:00dba905f263dba1db0300756d4a74af745f2e3a94f30c802450314af9af2202",
        838,
    ),
];
