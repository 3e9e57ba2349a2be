//! The regions the stack can run in: one table of the regions where Cloud Run, Memorystore for
//! Redis and Serverless VPC Access are all offered, and the check of `--region` against it
//! (before any call, with a "did you mean" for a typo).

/// Every region that offers all three of Cloud Run, Memorystore for Redis and Serverless VPC
/// Access, sorted.
///
/// Where it came from (December 2026): Cloud Run's locations page
/// (cloud.google.com/run/docs/locations, its Tier 1 and Tier 2 lists), intersected with
/// Memorystore for Redis's regions (cloud.google.com/memorystore/docs/redis/regions), which
/// offers every one of them; a Serverless VPC Access connector lives in its Cloud Run service's
/// region, and the API is offered in each of these.
///
/// How to update it: intersect the outputs of `gcloud run regions list`,
/// `gcloud redis regions list` and `gcloud compute networks vpc-access locations list` (or
/// the three documentation pages above) and keep the result sorted; the unit test below checks
/// the order and that the default region is listed.
pub const REGIONS: &[&str] = &[
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-southwest1",
    "europe-west1",
    "europe-west10",
    "europe-west12",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
];

/// Accepts `region` when it is in [`REGIONS`]; otherwise says why, suggests the nearest
/// region when one is close, and lists them all.
pub fn validate(region: &str) -> Result<(), String> {
    if REGIONS.contains(&region) {
        return Ok(());
    }
    let what = if looks_like_a_region(region) {
        format!(
            "`{region}` is not a region where Cloud Run, Memorystore for Redis and Serverless \
             VPC Access are all offered"
        )
    } else {
        format!("`{region}` is not a region name such as us-central1 or europe-west1")
    };
    let hint = match nearest(region) {
        Some(near) => format!("; did you mean --region {near}?"),
        None => String::new(),
    };
    Err(format!(
        "{what}{hint} The regions chatctl can use: {}",
        REGIONS.join(", ")
    ))
}

/// `name-direction` plus a digit, in lowercase: the shape of every Google Cloud region.
fn looks_like_a_region(region: &str) -> bool {
    region.contains('-')
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The listed region nearest to `region` by edit distance (a transposition counts as one
/// edit), unless even that one differs in more than half of the longer name.
fn nearest(region: &str) -> Option<&'static str> {
    let typed = region.trim().to_ascii_lowercase();
    REGIONS
        .iter()
        .map(|r| (strsim::osa_distance(&typed, r), *r))
        .filter(|(distance, r)| *distance <= typed.len().max(r.len()) / 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_without_repeats_and_holds_the_default() {
        assert!(
            REGIONS.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
        assert!(REGIONS.contains(&crate::config::DEFAULT_REGION));
        for region in REGIONS {
            assert!(looks_like_a_region(region), "{region}");
        }
    }

    #[test]
    fn listed_regions_pass_and_typos_get_the_nearest_one() {
        assert!(validate("us-central1").is_ok());
        assert!(validate("europe-west9").is_ok());
        for (typed, meant) in [
            ("us-central", "us-central1"),
            ("us-centrl1", "us-central1"),
            ("us-cnetral1", "us-central1"),
            ("US-EAST1", "us-east1"),
            ("europe-west7", "europe-west1"),
            ("asia-northeast9", "asia-northeast1"),
        ] {
            let err = validate(typed).unwrap_err();
            assert!(
                err.contains(&format!("did you mean --region {meant}?")),
                "{typed}: {err}"
            );
        }
    }

    #[test]
    fn unknown_or_malformed_names_are_refused_with_the_list() {
        let err = validate("mars-east9").unwrap_err();
        assert!(err.contains("not a region where Cloud Run"), "{err}");
        assert!(err.contains("did you mean --region "), "{err}");
        assert!(err.contains("us-central1, us-east1"), "the list: {err}");
        let err = validate("central").unwrap_err();
        assert!(err.contains("not a region name"), "{err}");
        let err = validate("x").unwrap_err();
        assert!(!err.contains("did you mean"), "nothing is near: {err}");
    }
}
