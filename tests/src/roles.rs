//! The roles as `quorate` processes on a devnet: a pool created once, then its scheduler and
//! workers started, killed (SIGKILL, as a crash) and started again at will, each with its output
//! appended to a log of its own.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use quorate_devnet::Devnet;
use quorate_node::devnet::{DevnetFiles, write_files};

/// A role's process: its command, started and killed at will, its output appended to a log.
#[derive(Debug)]
pub struct Process {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    /// A process of `program` with `args`, named `name` (its log is `<logs>/<name>.log`).
    pub fn new(name: &str, program: &Path, args: Vec<String>, logs: &Path) -> Self {
        Self {
            name: name.to_owned(),
            program: program.to_path_buf(),
            args,
            env: Vec::new(),
            log: logs.join(format!("{name}.log")),
            child: None,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `worker` or `scheduler`, from its name.
    pub fn kind(&self) -> &str {
        if self.name.starts_with("worker") { "worker" } else { "scheduler" }
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The next start dies at crash point `point` (`QUORATE_CRASH_AT`), or at none.
    pub fn crash_at(&mut self, point: Option<&str>) {
        self.env.retain(|(k, _)| k != quorate_node::crash::CRASH_AT);
        if let Some(point) = point {
            self.env.push((quorate_node::crash::CRASH_AT.to_owned(), point.to_owned()));
        }
    }

    /// Sets the value after `flag` in its arguments (a new `--listen` address, say) for its next
    /// starts; false when it has no such flag.
    pub fn set_arg(&mut self, flag: &str, value: &str) -> bool {
        let Some(i) = self.args.iter().position(|a| a == flag) else { return false };
        match self.args.get_mut(i + 1) {
            Some(arg) => {
                value.clone_into(arg);
                true
            }
            None => false,
        }
    }

    /// Adds arguments for its next starts.
    pub fn add_args(&mut self, args: &[&str]) {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
    }

    /// Sets an environment variable for its next starts.
    pub fn env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    fn command(&self) -> anyhow::Result<Command> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(&self.program);
        command.args(&self.args).stdout(Stdio::null()).stderr(log);
        command.env_remove(quorate_node::crash::CRASH_AT);
        command.env_remove(quorate_node::adversary::ADVERSARY);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        Ok(command)
    }

    /// Starts it.
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.child = Some(self.command()?.spawn()?);
        Ok(())
    }

    /// Starts it and returns the first address it prints (the scheduler's, with its peer id).
    pub fn start_reading_address(&mut self) -> anyhow::Result<String> {
        let mut command = self.command()?;
        command.stdout(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        self.child = Some(child);
        let mut lines = BufReader::new(stdout).lines();
        let address = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.trim().starts_with("/ip4/").then(|| l.trim().to_owned()))
            .with_context(|| format!("{} printed no address", self.name))?;
        std::thread::spawn(move || lines.for_each(drop));
        Ok(address)
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `limit` for it to exit on its own (at a crash point); `None` if it still
    /// runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// True while it runs.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A pool on a devnet, its roles as processes: the operator's pool created, its scheduler and
/// `workers` workers ready to start (each with one sandbox).
#[derive(Debug)]
pub struct Pool {
    /// The devnet's keystores, password file and `devnet.toml`.
    pub files: DevnetFiles,
    /// The scheduler.
    pub scheduler: Process,
    /// The workers, `worker-1` first.
    pub workers: Vec<Process>,
    /// The scheduler's address with its peer id, once started with [`Pool::start`].
    pub address: String,
    /// Where the roles' logs are.
    pub logs: PathBuf,
    quorate: PathBuf,
    dir: PathBuf,
}

impl Pool {
    /// Creates the pool (`quorate scheduler init` as the operator) in `dir`, with the roles'
    /// data directories and logs there; `sets` are `--set` settings every role gets.
    pub fn create(
        net: &Devnet,
        dir: &Path,
        quorate: &Path,
        evaluator: &Path,
        workers: usize,
        sets: &[&str],
    ) -> anyhow::Result<Self> {
        let files = write_files(net, &dir.join("devnet"))?;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let common = |data: &str| -> Vec<String> {
            let mut args = vec![
                "--config".into(),
                files.config.display().to_string(),
                "--data-dir".into(),
                dir.join(data).display().to_string(),
                "--set".into(),
                format!("evaluator.program={}", evaluator.display()),
            ];
            for set in sets {
                args.extend(["--set".into(), (*set).to_owned()]);
            }
            args
        };
        let password = files.password_file.display().to_string();
        let mut init = Command::new(quorate);
        init.args(common("pool")).args(["scheduler", "init", "--wallet", "operator"]);
        init.args(["--password-file", &password]);
        let out = init.output()?;
        anyhow::ensure!(
            out.status.success(),
            "scheduler init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut scheduler_args = common("pool");
        scheduler_args.extend(
            ["scheduler", "run", "--wallet", "operator", "--password-file", &password, "--listen"]
                .map(String::from),
        );
        scheduler_args.push(format!("/ip4/127.0.0.1/tcp/{port}"));
        let scheduler = Process::new("scheduler", quorate, scheduler_args, &logs);
        let workers = (1..=workers)
            .map(|i| {
                let name = format!("worker-{i}");
                let mut args = common(&name);
                args.extend(
                    ["worker", "run", "--wallet", &name, "--password-file", &password]
                        .map(String::from),
                );
                args.extend(["--pool".into(), "1".into(), "--cores".into(), "1".into()]);
                Process::new(&name, quorate, args, &logs)
            })
            .collect();
        Ok(Self {
            files,
            scheduler,
            workers,
            address: String::new(),
            logs,
            quorate: quorate.to_path_buf(),
            dir: dir.to_path_buf(),
        })
    }

    /// Starts the scheduler (reading its address) and then every worker, bootstrapped to it.
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.address = self.scheduler.start_reading_address()?;
        for worker in &mut self.workers {
            worker.args.extend(["--bootstrap".into(), self.address.clone()]);
            worker.start()?;
        }
        Ok(())
    }

    /// A `quorate` command as `wallet` would run it (its config and password file, a data
    /// directory of its own), for a client's commands.
    pub fn command(&self, data: &str) -> Command {
        let mut command = Command::new(&self.quorate);
        command
            .arg("--config")
            .arg(&self.files.config)
            .arg("--data-dir")
            .arg(self.dir.join(data))
            .env_remove(quorate_node::crash::CRASH_AT);
        command
    }

    /// Every role's log, for a failure's message.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for process in std::iter::once(&self.scheduler).chain(&self.workers) {
            let text = std::fs::read_to_string(process.log()).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = all.get(all.len().saturating_sub(lines)..).unwrap_or_default();
            out.push_str(&format!("--- {} ---\n{}\n", process.name(), tail.join("\n")));
        }
        out
    }
}
