use super::*;

/// Every argument read from the environment, in every subcommand.
fn env_args(command: &clap::Command, out: &mut Vec<(String, bool)>) {
    for arg in command.get_arguments() {
        if arg.get_env().is_some() {
            out.push((
                format!("{} --{}", command.get_name(), arg.get_id()),
                arg.is_hide_env_values_set(),
            ));
        }
    }
    for sub in command.get_subcommands() {
        env_args(sub, out);
    }
}

#[test]
fn help_never_shows_environment_values() {
    let mut args = Vec::new();
    env_args(&Cli::command(), &mut args);
    assert!(args.len() >= 8, "{args:?}");
    let shown: Vec<&String> = args
        .iter()
        .filter(|(_, hidden)| !hidden)
        .map(|(name, _)| name)
        .collect();
    assert!(
        shown.is_empty(),
        "these show their environment value in --help: {shown:?}"
    );
}

#[test]
fn the_origin_of_a_url_is_noted() {
    let parsed = parse(["stigfix", "plan", "--ucp-url", "https://a"].map(Into::into)).unwrap();
    assert_eq!(parsed.global.origins.ucp_url, Origin::Flag);
    assert_eq!(parsed.global.origins.dtr_url, Origin::Unset);
    let parsed = parse(["stigfix", "--dtr-url", "https://a", "plan"].map(Into::into)).unwrap();
    assert_eq!(parsed.global.origins.dtr_url, Origin::Flag);
}

#[test]
fn prune_needs_keep_or_older_than() {
    let error = Cli::try_parse_from(["stigfix", "snapshots", "prune"]).unwrap_err();
    assert_eq!(
        error.kind(),
        clap::error::ErrorKind::MissingRequiredArgument
    );
    let parsed = Cli::try_parse_from([
        "stigfix",
        "snapshots",
        "prune",
        "--keep",
        "3",
        "--format",
        "json",
    ])
    .unwrap();
    let Command::Snapshots(args) = parsed.command else {
        panic!("not snapshots")
    };
    assert_eq!(args.format, ListFormat::Json);
    assert!(matches!(
        args.command,
        Some(SnapshotsCommand::Prune(PruneArgs { keep: Some(3), .. }))
    ));
    let error = Cli::try_parse_from(["stigfix", "snapshots", "--format", "markdown"]).unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue);
}
