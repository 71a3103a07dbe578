//! The smart-home reference data set of `shared/design/smart-home.md`.
//!
//! Households `h00001`, `h00002`, ... each have a gateway (`gw1`), a smart
//! meter (`m1`; one in five also a heat-pump meter `m2`), two to four
//! thermostats (`th1`...) and one to three motion sensors (`pir1`...):
//!
//! | measurement | tags | fields | cadence |
//! |---|---|---|---|
//! | `energy` | `household`, `meter` | `import_kwh`, `export_kwh` (cumulative floats), `power_w` (float, net: negative while exporting) | `--interval` (10 s) |
//! | `climate` | `household`, `room`, `device` | `temperature_c`, `humidity_pct`, `setpoint_c` (floats), `heating` (bool); `valve_pct` (integer) after the firmware update | 60 s |
//! | `motion` | `household`, `room`, `device` | `motion` (bool), `battery_pct` (integer) | on event: `true` on motion, `false` 90 s after the last motion |
//! | `device_status` | `household`, `device`, `kind` | `online` (bool), `rssi` (integer), `firmware` (string); only `online=false` while the device is offline | 5 min |
//!
//! Timestamps are aligned to `--start` (energy, climate, status) or random
//! milliseconds (motion). Output is ordered by time, then household, then
//! measurement and device, except for the late lines and duplicates of the
//! dirt (see [`DIRT_HELP`]). Each household has its own random streams, one
//! for the simulation and one for the dirt, so turning dirt off leaves the
//! readings the same (apart from meter counters after a replacement).
//!
//! Local time (for daily profiles) is taken as UTC+1 all year.

use std::fmt::Write as _;
use std::io;

use crate::generate::{Dirt, GenerateConfig, Sink};
use crate::rng::{XorShift64, derive_seed};
use crate::units::{DAY_NS, HOUR_NS, MINUTE_NS, SECOND_NS};

/// Spacing of `climate` readings.
pub const CLIMATE_INTERVAL_NS: i64 = MINUTE_NS;
/// Spacing of `device_status` heartbeats.
pub const STATUS_INTERVAL_NS: i64 = 5 * MINUTE_NS;
/// Simulation step: lines are generated and sorted 10 s at a time.
const TICK_NS: i64 = 10 * SECOND_NS;
/// Homes are in Europe/Berlin; daily profiles use CET (no DST).
const LOCAL_OFFSET_NS: i64 = HOUR_NS;
/// A motion sensor reports `motion=false` this long after the last motion.
const MOTION_CLEAR_NS: i64 = 90 * SECOND_NS;

/// Probability that a household's gateway has an outage in a 24 h window.
pub const OUTAGE_PROBABILITY_PER_DAY: f64 = 0.10;
/// Shortest and longest gateway outage.
pub const OUTAGE_LENGTH_NS: (i64, i64) = (5 * MINUTE_NS, 4 * HOUR_NS);
/// At a reconnect the gateway re-sends the lines of this long before the outage.
pub const RESEND_WINDOW_NS: i64 = 2 * MINUTE_NS;
/// Probability that a device (meter, thermostat, motion sensor) goes offline in a 24 h window.
pub const GAP_PROBABILITY_PER_DAY: f64 = 0.05;
/// Shortest and longest offline gap.
pub const GAP_LENGTH_NS: (i64, i64) = (10 * MINUTE_NS, 6 * HOUR_NS);
/// Probability that a meter is replaced during the time range.
pub const METER_REPLACEMENT_PROBABILITY: f64 = 0.10;
/// Shortest and longest time a meter is offline while it is replaced.
pub const REPLACEMENT_LENGTH_NS: (i64, i64) = (10 * MINUTE_NS, 30 * MINUTE_NS);
/// Probability that a household's thermostats get the firmware update.
pub const FIRMWARE_UPDATE_PROBABILITY: f64 = 0.80;

/// The dirt, as `generate --help` prints it.
pub const DIRT_HELP: &str = "\
smart-home dirt (on by default; --dirty false turns all of it off):
  - gateway outages: each household, in every 24 h window from --start, with
    probability 10% has one outage starting at a uniformly random time, lasting
    5 min to 4 h (uniform; outages closer than 2 min to the previous one are
    dropped). Every line the household produces during the outage is held back
    and written at the reconnect, in time order, after the lines of that 10 s
    step: late, out of order, by up to 4 h. Expected: 0.85% of lines late.
  - duplicates: at each reconnect the gateway first re-sends its lines of the
    2 min before the outage began (byte-identical copies). Expected: 0.014%
    of lines.
  - offline gaps: each meter, thermostat and motion sensor, in every 24 h
    window, with probability 5% goes offline for 10 min to 6 h: no readings,
    and its device_status heartbeats carry only online=false. Expected: 0.64%
    of those devices' readings missing.
  - counter resets: each meter with probability 10% is replaced once, at a
    uniform time: offline 10-30 min, then import_kwh and export_kwh restart
    from 0.
  - firmware update: in 80% of households the thermostats go from firmware
    2.3.1 to 2.4.0 at a uniform time in the middle half of the range; from then
    on their climate lines have a new integer field valve_pct.
  - malformed lines: a corrupted copy of a line (key cut short, field value
    `oops`, trailing garbage after the timestamp, or no field set) is written
    before well-formed line number 50-149, then every 5000-14999 well-formed
    lines (uniform): 1 in 10 000 on average. The well-formed line follows.
  If the draws give no outage, no meter replacement or no firmware update at
  all, household h00001 gets one (at a uniform time), so every dirty data set
  has each kind. Per-run counts are printed on stderr.";

const CLIMATE_ROOMS: [&str; 6] = [
    "living_room",
    "bedroom",
    "kitchen",
    "bathroom",
    "kids_room",
    "office",
];
const MOTION_ROOMS: [&str; 5] = ["hall", "living_room", "kitchen", "stairs", "garage"];
const COMFORT_SETPOINTS: [f64; 5] = [20.0, 20.5, 21.0, 21.5, 22.0];
const ECO_SETBACKS: [f64; 3] = [2.0, 3.0, 4.0];
const FIRMWARE_GATEWAY: &str = "3.1.0";
const FIRMWARE_METER: &str = "1.2.7";
const FIRMWARE_THERMOSTAT: &str = "2.3.1";
const FIRMWARE_THERMOSTAT_NEW: &str = "2.4.0";
const FIRMWARE_MOTION: &str = "1.4.2";

/// Sort order of the measurements within one timestamp and household.
const ORD_ENERGY: u32 = 0;
const ORD_CLIMATE: u32 = 1 << 16;
const ORD_MOTION: u32 = 2 << 16;
const ORD_STATUS: u32 = 3 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gateway,
    Meter,
    Thermostat,
    Motion,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::Meter => "meter",
            Kind::Thermostat => "thermostat",
            Kind::Motion => "motion",
        }
    }
}

struct Device {
    /// `device_status,household=...,device=...,kind=...`
    status_key: String,
    kind: Kind,
    firmware: &'static str,
    rssi: i64,
    /// Offline intervals `[start, end)`.
    gaps: Vec<(i64, i64)>,
}

impl Device {
    fn offline(&self, ts: i64) -> bool {
        self.gaps.iter().any(|&(s, e)| s <= ts && ts < e)
    }
}

struct Meter {
    device: usize,
    key: String,
    heat_pump: bool,
    base_w: f64,
    solar_peak_w: f64,
    import_kwh: f64,
    export_kwh: f64,
    appliance_w: f64,
    appliance_until: i64,
    cloud: f64,
    pump_on: bool,
    pump_w: f64,
    /// When the replacement meter starts counting from 0.
    reset_at: Option<i64>,
}

struct Thermostat {
    device: usize,
    key: String,
    comfort: f64,
    setback: f64,
    temp: f64,
    humidity: f64,
    heating: bool,
    loss: f64,
    gain: f64,
}

struct MotionSensor {
    device: usize,
    key: String,
    battery: i64,
    clear_at: Option<i64>,
}

/// A held-back or re-sent line: (outage index, timestamp, order, text).
type Held = (usize, i64, u32, String);

/// Sends lines on, or holds them back during the gateway's outages.
struct Gateway {
    household: u32,
    outages: Vec<(i64, i64)>,
    current: usize,
    held: Vec<Held>,
    resend: Vec<Held>,
}

/// The lines of one tick.
#[derive(Default)]
struct TickOut {
    buf: String,
    /// (timestamp, household, order, start, end) of each line in `buf`.
    items: Vec<(i64, u32, u32, usize, usize)>,
    /// Lines written after the sorted ones: reconnect flushes.
    reconnect: Vec<(i64, String)>,
}

impl Gateway {
    fn emit(&mut self, ts: i64, ord: u32, line: &str, out: &mut TickOut, dirt: &mut Dirt) {
        for (i, &(start, end)) in self.outages.iter().enumerate().skip(self.current) {
            if ts < start.saturating_sub(RESEND_WINDOW_NS) {
                break;
            }
            if ts < start {
                self.resend.push((i, ts, ord, line.to_owned()));
                break;
            }
            if ts < end {
                self.held.push((i, ts, ord, line.to_owned()));
                dirt.late += 1;
                return;
            }
        }
        let from = out.buf.len();
        out.buf.push_str(line);
        out.items
            .push((ts, self.household, ord, from, out.buf.len()));
    }

    /// Flushes the outages that ended by `until`: re-sent lines, then held ones.
    fn reconnect(&mut self, until: i64, out: &mut TickOut, dirt: &mut Dirt) {
        while let Some(&(_, end)) = self.outages.get(self.current)
            && end <= until
        {
            let i = self.current;
            let (mut resend, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.resend)
                .into_iter()
                .partition(|h| h.0 == i);
            self.resend = keep;
            let (mut held, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|h| h.0 == i);
            self.held = keep;
            resend.sort_by_key(|h| (h.1, h.2));
            held.sort_by_key(|h| (h.1, h.2));
            dirt.duplicates += resend.len() as u64;
            out.reconnect.extend(
                resend
                    .into_iter()
                    .chain(held)
                    .map(|(_, ts, _, line)| (ts, line)),
            );
            self.current += 1;
        }
    }
}

struct Household {
    rng: XorShift64,
    devices: Vec<Device>,
    meters: Vec<Meter>,
    thermostats: Vec<Thermostat>,
    motions: Vec<MotionSensor>,
    gateway: Gateway,
    firmware_at: Option<i64>,
    next_energy: i64,
    next_climate: i64,
    next_status: i64,
    line: String,
}

/// Hour of the day in local time, as a fraction.
fn local_hour(ts: i64) -> f64 {
    (ts + LOCAL_OFFSET_NS).rem_euclid(DAY_NS) as f64 / HOUR_NS as f64
}

/// Sun: 0 at night, 1 at 13:00 local time.
fn daylight(hour: f64) -> f64 {
    let x = (hour - 13.0) / 5.5;
    (1.0 - x * x).max(0.0)
}

/// Household consumption relative to its base load, by local hour.
fn consumption_profile(hour: f64) -> f64 {
    match hour {
        h if h < 6.0 => 0.8,
        h if h < 9.0 => 2.2,
        h if h < 17.0 => 1.3,
        h if h < 22.0 => 2.6,
        _ => 1.5,
    }
}

/// Rounds to multiples of `1 / scale` without producing `-0`.
fn round(value: f64, scale: f64) -> f64 {
    let r = (value * scale).round() / scale;
    if r == 0.0 { 0.0 } else { r }
}

/// Distinct picks from `items` (at most all of them).
fn distinct<'a>(rng: &mut XorShift64, items: &[&'a str], count: usize) -> Vec<&'a str> {
    let mut pool = items.to_vec();
    let count = count.min(pool.len());
    for i in 0..count {
        let j = i + rng.below((pool.len() - i) as u64) as usize;
        pool.swap(i, j);
    }
    pool.truncate(count);
    pool
}

/// Intervals from a per-24 h-window chance: `[start, start + len)`.
fn windows(
    rng: &mut XorShift64,
    config: &GenerateConfig,
    probability: f64,
    length: (i64, i64),
) -> Vec<(i64, i64)> {
    let end = config.end_ns();
    let mut found = Vec::new();
    let mut window = config.start_ns;
    while window < end {
        if rng.chance(probability) {
            let start = window + rng.below(DAY_NS as u64) as i64;
            let len = rng.range_i64(length.0, length.1);
            if start < end {
                found.push((start, start + len));
            }
        }
        window = window.saturating_add(DAY_NS);
    }
    found
}

impl Household {
    fn new(index: usize, config: &GenerateConfig, dirt: &mut Dirt) -> Self {
        let mut rng = XorShift64::new(derive_seed(config.seed, 2 * index as u64));
        let id = format!("h{:05}", index + 1);
        let mut devices = Vec::new();
        let mut add_device =
            |rng: &mut XorShift64, name: &str, kind: Kind, firmware: &'static str| {
                devices.push(Device {
                    status_key: format!(
                        "device_status,household={id},device={name},kind={}",
                        kind.name()
                    ),
                    kind,
                    firmware,
                    rssi: rng.range_i64(-85, -45),
                    gaps: Vec::new(),
                });
                devices.len() - 1
            };
        add_device(&mut rng, "gw1", Kind::Gateway, FIRMWARE_GATEWAY);

        let mut meters = Vec::new();
        let heat_pump = rng.chance(0.2);
        for (n, pump) in [(1, false), (2, true)] {
            if pump && !heat_pump {
                continue;
            }
            let name = format!("m{n}");
            let device = add_device(&mut rng, &name, Kind::Meter, FIRMWARE_METER);
            let solar = !pump && rng.chance(0.4);
            meters.push(Meter {
                device,
                key: format!("energy,household={id},meter={name}"),
                heat_pump: pump,
                base_w: rng.range_f64(120.0, 350.0),
                solar_peak_w: if solar {
                    rng.range_f64(3000.0, 9000.0)
                } else {
                    0.0
                },
                import_kwh: if pump {
                    rng.range_f64(100.0, 8000.0)
                } else {
                    rng.range_f64(1000.0, 30000.0)
                },
                export_kwh: if solar {
                    rng.range_f64(0.0, 5000.0)
                } else {
                    0.0
                },
                appliance_w: 0.0,
                appliance_until: i64::MIN,
                cloud: rng.range_f64(0.2, 1.0),
                pump_on: false,
                pump_w: rng.range_f64(1500.0, 3000.0),
                reset_at: None,
            });
        }

        let rooms = rng.range_i64(2, 4) as usize;
        let mut thermostats = Vec::new();
        for (n, room) in distinct(&mut rng, &CLIMATE_ROOMS, rooms)
            .into_iter()
            .enumerate()
        {
            let name = format!("th{}", n + 1);
            let device = add_device(&mut rng, &name, Kind::Thermostat, FIRMWARE_THERMOSTAT);
            let comfort = COMFORT_SETPOINTS[rng.below(COMFORT_SETPOINTS.len() as u64) as usize];
            thermostats.push(Thermostat {
                device,
                key: format!("climate,household={id},room={room},device={name}"),
                comfort,
                setback: ECO_SETBACKS[rng.below(ECO_SETBACKS.len() as u64) as usize],
                temp: comfort + rng.range_f64(-1.0, 1.0),
                humidity: rng.range_f64(40.0, 60.0),
                heating: false,
                loss: rng.range_f64(0.002, 0.004),
                gain: rng.range_f64(0.08, 0.15),
            });
        }

        let sensors = rng.range_i64(1, 3) as usize;
        let mut motions = Vec::new();
        for (n, room) in distinct(&mut rng, &MOTION_ROOMS, sensors)
            .into_iter()
            .enumerate()
        {
            let name = format!("pir{}", n + 1);
            let device = add_device(&mut rng, &name, Kind::Motion, FIRMWARE_MOTION);
            motions.push(MotionSensor {
                device,
                key: format!("motion,household={id},room={room},device={name}"),
                battery: rng.range_i64(30, 100),
                clear_at: None,
            });
        }

        let mut household = Self {
            rng,
            devices,
            meters,
            thermostats,
            motions,
            gateway: Gateway {
                household: index as u32,
                outages: Vec::new(),
                current: 0,
                held: Vec::new(),
                resend: Vec::new(),
            },
            firmware_at: None,
            next_energy: config.start_ns,
            next_climate: config.start_ns,
            next_status: config.start_ns,
            line: String::with_capacity(256),
        };
        if config.dirty {
            household.plan_dirt(index, config, dirt);
        }
        household
    }

    fn plan_dirt(&mut self, index: usize, config: &GenerateConfig, dirt: &mut Dirt) {
        let mut rng = XorShift64::new(derive_seed(config.seed, 2 * index as u64 + 1));
        let (start, end) = (config.start_ns, config.end_ns());
        let duration = (end - start).max(1) as u64;

        for outage in windows(
            &mut rng,
            config,
            OUTAGE_PROBABILITY_PER_DAY,
            OUTAGE_LENGTH_NS,
        ) {
            self.add_outage(outage, dirt);
        }
        for device in &mut self.devices {
            if device.kind == Kind::Gateway {
                continue;
            }
            let gaps = windows(&mut rng, config, GAP_PROBABILITY_PER_DAY, GAP_LENGTH_NS);
            dirt.offline_gaps += gaps.len() as u64;
            device.gaps.extend(gaps);
        }
        for meter in &mut self.meters {
            if rng.chance(METER_REPLACEMENT_PROBABILITY) {
                let at = start + rng.below(duration) as i64;
                let len = rng.range_i64(REPLACEMENT_LENGTH_NS.0, REPLACEMENT_LENGTH_NS.1);
                self.devices[meter.device].gaps.push((at, at + len));
                dirt.offline_gaps += 1;
                meter.reset_at = Some(at + len);
            }
        }
        if rng.chance(FIRMWARE_UPDATE_PROBABILITY) {
            self.firmware_at = Some(start + (duration / 4 + rng.below(duration / 2)) as i64);
            dirt.firmware_updates += 1;
        }
    }

    fn add_outage(&mut self, (start, end): (i64, i64), dirt: &mut Dirt) {
        let outages = &mut self.gateway.outages;
        if outages
            .last()
            .is_none_or(|&(_, e)| start >= e + RESEND_WINDOW_NS)
        {
            outages.push((start, end));
            dirt.outages += 1;
        }
    }

    /// Produces the lines of `[t, tick_end)`.
    fn tick(
        &mut self,
        t: i64,
        tick_end: i64,
        config: &GenerateConfig,
        out: &mut TickOut,
        dirt: &mut Dirt,
    ) {
        while self.next_energy < tick_end {
            let ts = self.next_energy;
            self.energy(ts, config.interval_ns, out, dirt);
            self.next_energy = ts.saturating_add(config.interval_ns);
        }
        while self.next_climate < tick_end {
            let ts = self.next_climate;
            self.climate(ts, out, dirt);
            self.next_climate = ts.saturating_add(CLIMATE_INTERVAL_NS);
        }
        self.motion(t, tick_end, out, dirt);
        while self.next_status < tick_end {
            let ts = self.next_status;
            self.status(ts, out, dirt);
            self.next_status = ts.saturating_add(STATUS_INTERVAL_NS);
        }
        self.gateway.reconnect(tick_end, out, dirt);
    }

    fn energy(&mut self, ts: i64, interval_ns: i64, out: &mut TickOut, dirt: &mut Dirt) {
        let Self {
            rng,
            devices,
            meters,
            gateway,
            line,
            ..
        } = self;
        let dt_s = interval_ns as f64 / SECOND_NS as f64;
        let hour = local_hour(ts);
        for (n, m) in meters.iter_mut().enumerate() {
            let consumption_w = if m.heat_pump {
                // Cycles of about 20 minutes on and off.
                if rng.chance(dt_s / 1200.0) {
                    m.pump_on = !m.pump_on;
                }
                if m.pump_on {
                    m.pump_w * rng.range_f64(0.95, 1.05)
                } else {
                    rng.range_f64(3.0, 8.0)
                }
            } else {
                if ts >= m.appliance_until {
                    m.appliance_w = 0.0;
                    // About one appliance run (kettle, oven, washer) every two hours.
                    if rng.chance(dt_s / 7200.0) {
                        m.appliance_w = rng.range_f64(1500.0, 3000.0);
                        m.appliance_until = ts + rng.range_i64(2 * MINUTE_NS, 30 * MINUTE_NS);
                    }
                }
                m.base_w * consumption_profile(hour) * rng.range_f64(0.9, 1.1) + m.appliance_w
            };
            m.cloud = (m.cloud + rng.range_f64(-0.05, 0.05)).clamp(0.1, 1.0);
            let net_w = consumption_w - m.solar_peak_w * daylight(hour) * m.cloud;
            if let Some(at) = m.reset_at
                && ts >= at
            {
                m.import_kwh = 0.0;
                m.export_kwh = 0.0;
                m.reset_at = None;
                dirt.counter_resets += 1;
            }
            let kwh = net_w.abs() * dt_s / 3.6e6;
            if net_w >= 0.0 {
                m.import_kwh += kwh;
            } else {
                m.export_kwh += kwh;
            }
            if devices[m.device].offline(ts) {
                continue;
            }
            line.clear();
            let _ = write!(
                line,
                "{} import_kwh={:.3},export_kwh={:.3},power_w={:.1} {ts}",
                m.key,
                m.import_kwh,
                m.export_kwh,
                round(net_w, 10.0)
            );
            gateway.emit(ts, ORD_ENERGY + n as u32, line, out, dirt);
        }
    }

    fn climate(&mut self, ts: i64, out: &mut TickOut, dirt: &mut Dirt) {
        let Self {
            rng,
            devices,
            thermostats,
            gateway,
            line,
            firmware_at,
            ..
        } = self;
        let hour = local_hour(ts);
        let outside_c = 2.0 + 8.0 * daylight(hour);
        let updated = firmware_at.is_some_and(|at| ts >= at);
        for (n, th) in thermostats.iter_mut().enumerate() {
            let setpoint = if (6.0..22.0).contains(&hour) {
                th.comfort
            } else {
                th.comfort - th.setback
            };
            if th.heating && th.temp > setpoint + 0.3 {
                th.heating = false;
            } else if !th.heating && th.temp < setpoint - 0.3 {
                th.heating = true;
            }
            let gain = if th.heating { th.gain } else { 0.0 };
            th.temp += gain - th.loss * (th.temp - outside_c) + rng.range_f64(-0.03, 0.03);
            th.humidity = (th.humidity + rng.range_f64(-0.4, 0.4)).clamp(30.0, 75.0);
            if devices[th.device].offline(ts) {
                continue;
            }
            line.clear();
            let _ = write!(
                line,
                "{} temperature_c={:.2},humidity_pct={:.1},setpoint_c={:.1},heating={}",
                th.key,
                round(th.temp, 100.0),
                th.humidity,
                setpoint,
                th.heating
            );
            if updated {
                let valve = if th.heating {
                    ((setpoint - th.temp + 0.5) * 60.0)
                        .round()
                        .clamp(10.0, 100.0) as i64
                } else {
                    0
                };
                let _ = write!(line, ",valve_pct={valve}i");
            }
            let _ = write!(line, " {ts}");
            gateway.emit(ts, ORD_CLIMATE + n as u32, line, out, dirt);
        }
    }

    fn motion(&mut self, t: i64, tick_end: i64, out: &mut TickOut, dirt: &mut Dirt) {
        let Self {
            rng,
            devices,
            motions,
            gateway,
            line,
            ..
        } = self;
        let hour = local_hour(t);
        // One motion every 10 minutes by day, every 2 hours at night, per sensor.
        let rate_per_s = if (6.0..23.0).contains(&hour) {
            1.0 / 600.0
        } else {
            1.0 / 7200.0
        };
        let len_ns = tick_end - t;
        let probability = rate_per_s * len_ns as f64 / SECOND_NS as f64;
        let len_ms = (len_ns / 1_000_000).max(1) as u64;
        for (n, s) in motions.iter_mut().enumerate() {
            let event = rng
                .chance(probability)
                .then(|| t + rng.below(len_ms) as i64 * 1_000_000);
            let device = &devices[s.device];
            if let Some(clear) = s.clear_at
                && clear < tick_end
                && event.is_none_or(|e| clear <= e)
            {
                s.clear_at = None;
                if !device.offline(clear) {
                    line.clear();
                    let _ = write!(
                        line,
                        "{} motion=false,battery_pct={}i {clear}",
                        s.key, s.battery
                    );
                    gateway.emit(clear, ORD_MOTION + n as u32, line, out, dirt);
                }
            }
            if let Some(at) = event {
                if s.clear_at.is_none() {
                    if rng.chance(0.02) {
                        s.battery = (s.battery - 1).max(1);
                    }
                    if !device.offline(at) {
                        line.clear();
                        let _ = write!(
                            line,
                            "{} motion=true,battery_pct={}i {at}",
                            s.key, s.battery
                        );
                        gateway.emit(at, ORD_MOTION + n as u32, line, out, dirt);
                    }
                }
                s.clear_at = Some(at + MOTION_CLEAR_NS);
            }
        }
    }

    fn status(&mut self, ts: i64, out: &mut TickOut, dirt: &mut Dirt) {
        let Self {
            rng,
            devices,
            gateway,
            line,
            firmware_at,
            ..
        } = self;
        let updated = firmware_at.is_some_and(|at| ts >= at);
        for (n, d) in devices.iter_mut().enumerate() {
            d.rssi = (d.rssi + rng.range_i64(-2, 2)).clamp(-95, -35);
            line.clear();
            if d.offline(ts) {
                let _ = write!(line, "{} online=false {ts}", d.status_key);
            } else {
                let firmware = if updated && d.kind == Kind::Thermostat {
                    FIRMWARE_THERMOSTAT_NEW
                } else {
                    d.firmware
                };
                let _ = write!(
                    line,
                    "{} online=true,rssi={}i,firmware=\"{firmware}\" {ts}",
                    d.status_key, d.rssi
                );
            }
            gateway.emit(ts, ORD_STATUS + n as u32, line, out, dirt);
        }
    }
}

/// Gives household h00001 an outage, a meter replacement and a firmware update
/// when the draws gave none of that kind to any household.
fn guarantee_dirt(households: &mut [Household], config: &GenerateConfig, dirt: &mut Dirt) {
    if households.is_empty() {
        return;
    }
    let mut rng = XorShift64::new(derive_seed(config.seed, u64::MAX - 1));
    let (start, end) = (config.start_ns, config.end_ns());
    let duration = (end - start).max(1) as u64;
    if dirt.outages == 0 {
        let at = start + rng.below(duration) as i64;
        let len = rng.range_i64(OUTAGE_LENGTH_NS.0, OUTAGE_LENGTH_NS.1);
        households[0].add_outage((at, at + len), dirt);
    }
    // A replacement counts if the new meter reports inside the range.
    let visible = |r: i64| r.saturating_add(config.interval_ns) <= end;
    let replaced = households
        .iter()
        .any(|h| h.meters.iter().any(|m| m.reset_at.is_some_and(visible)));
    if !replaced {
        // Early enough that the new meter reports inside the range when possible.
        let room = duration.saturating_sub((REPLACEMENT_LENGTH_NS.1 + config.interval_ns) as u64);
        let at = start + rng.below(room.max(1)) as i64;
        let len = rng.range_i64(REPLACEMENT_LENGTH_NS.0, REPLACEMENT_LENGTH_NS.1);
        let first = &mut households[0];
        if let Some(meter) = first.meters.first_mut() {
            first.devices[meter.device].gaps.push((at, at + len));
            dirt.offline_gaps += 1;
            meter.reset_at = Some(at + len);
        }
    }
    if dirt.firmware_updates == 0 {
        households[0].firmware_at = Some(start + (duration / 4 + rng.below(duration / 2)) as i64);
        dirt.firmware_updates += 1;
    }
}

/// Writes the data set into `sink`; returns the dirt it contains (without the
/// malformed lines, which the sink counts).
pub fn generate(config: &GenerateConfig, sink: &mut Sink<'_>) -> io::Result<Dirt> {
    let mut dirt = Dirt::default();
    let mut households: Vec<Household> = (0..config.scale)
        .map(|i| Household::new(i, config, &mut dirt))
        .collect();
    if households.is_empty() {
        return Ok(dirt);
    }
    if config.dirty {
        guarantee_dirt(&mut households, config, &mut dirt);
    }
    let end = config.end_ns();
    let mut out = TickOut::default();
    let mut t = config.start_ns;
    while t < end {
        let tick_end = t.saturating_add(TICK_NS).min(end);
        for household in &mut households {
            household.tick(t, tick_end, config, &mut out, &mut dirt);
        }
        write_tick(&mut out, sink)?;
        t = tick_end;
    }
    // Outages still running at the end reconnect now.
    for household in &mut households {
        household.gateway.reconnect(i64::MAX, &mut out, &mut dirt);
    }
    write_tick(&mut out, sink)?;
    Ok(dirt)
}

fn write_tick(out: &mut TickOut, sink: &mut Sink<'_>) -> io::Result<()> {
    // Stable: lines with equal keys keep the order they were produced in.
    out.items
        .sort_by_key(|&(ts, household, ord, _, _)| (ts, household, ord));
    for &(ts, _, _, from, to) in &out.items {
        sink.point(ts, &out.buf[from..to])?;
    }
    for (ts, line) in out.reconnect.drain(..) {
        sink.point(ts, &line)?;
    }
    out.items.clear();
    out.buf.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::generate::UseCase;
    use crate::generate::tests::{START, config, run};

    /// A well-formed line split into measurement, tags, fields, timestamp.
    struct Parsed<'a> {
        measurement: &'a str,
        key: &'a str,
        tags: Vec<(&'a str, &'a str)>,
        fields: Vec<(&'a str, &'a str)>,
        ts: i64,
    }

    fn parse(line: &str) -> Option<Parsed<'_>> {
        let mut parts = line.split(' ');
        let key = parts.next()?;
        let fields = parts.next()?;
        let ts = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        let mut key_parts = key.split(',');
        let measurement = key_parts.next()?;
        let tags = key_parts
            .map(|t| t.split_once('='))
            .collect::<Option<Vec<_>>>()?;
        let fields = fields
            .split(',')
            .map(|f| f.split_once('='))
            .collect::<Option<Vec<_>>>()?;
        let typed = fields.iter().all(|(_, v)| {
            v.parse::<f64>().is_ok()
                || v.strip_suffix('i')
                    .is_some_and(|n| n.parse::<i64>().is_ok())
                || *v == "true"
                || *v == "false"
                || (v.len() >= 2 && v.starts_with('"') && v.ends_with('"'))
        });
        typed.then_some(Parsed {
            measurement,
            key,
            tags,
            fields,
            ts,
        })
    }

    fn field<'a>(p: &Parsed<'a>, name: &str) -> Option<&'a str> {
        p.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn clean_line_format_and_spacing() {
        let mut c = config(UseCase::SmartHome, 3, DAY_NS, 5);
        c.dirty = false;
        let (body, summary) = run(&c);
        assert_eq!(summary.dirt, Dirt::default());
        let mut last_ts = i64::MIN;
        let mut last_by_series: HashMap<&str, (i64, Option<f64>)> = HashMap::new();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut households = HashSet::new();
        for line in body.lines() {
            let p = parse(line).unwrap_or_else(|| panic!("malformed: {line}"));
            assert!(p.ts >= last_ts, "out of order: {line}");
            assert!((START..START + DAY_NS).contains(&p.ts));
            last_ts = p.ts;
            *counts.entry(p.measurement).or_default() += 1;
            assert_eq!(p.tags[0].0, "household");
            households.insert(p.tags[0].1);
            let tag_keys: Vec<&str> = p.tags.iter().map(|t| t.0).collect();
            let field_keys: Vec<&str> = p.fields.iter().map(|t| t.0).collect();
            let (spacing, counter) = match p.measurement {
                "energy" => {
                    assert_eq!(tag_keys, ["household", "meter"]);
                    assert_eq!(field_keys, ["import_kwh", "export_kwh", "power_w"]);
                    let kwh: f64 = field(&p, "import_kwh")
                        .and_then(|v| v.parse().ok())
                        .expect(line);
                    (Some(10 * SECOND_NS), Some(kwh))
                }
                "climate" => {
                    assert_eq!(tag_keys, ["household", "room", "device"]);
                    assert_eq!(
                        field_keys,
                        ["temperature_c", "humidity_pct", "setpoint_c", "heating"]
                    );
                    let t: f64 = field(&p, "temperature_c")
                        .and_then(|v| v.parse().ok())
                        .expect(line);
                    assert!((5.0..30.0).contains(&t), "{line}");
                    (Some(CLIMATE_INTERVAL_NS), None)
                }
                "motion" => {
                    assert_eq!(tag_keys, ["household", "room", "device"]);
                    assert_eq!(field_keys, ["motion", "battery_pct"]);
                    assert!(field(&p, "battery_pct").is_some_and(|v| v.ends_with('i')));
                    (None, None)
                }
                "device_status" => {
                    assert_eq!(tag_keys, ["household", "device", "kind"]);
                    assert_eq!(field_keys, ["online", "rssi", "firmware"]);
                    assert_eq!(field(&p, "online"), Some("true"));
                    (Some(STATUS_INTERVAL_NS), None)
                }
                other => panic!("unexpected measurement {other}"),
            };
            if let Some((prev_ts, prev_kwh)) = last_by_series.insert(p.key, (p.ts, counter))
                && let Some(spacing) = spacing
            {
                assert_eq!(p.ts - prev_ts, spacing, "{line}");
                if let (Some(prev), Some(now)) = (prev_kwh, counter) {
                    assert!(now >= prev, "counter went back: {line}");
                }
            }
        }
        assert_eq!(households.len(), 3);
        assert!(households.contains("h00001") && households.contains("h00003"));
        // Every meter reads every 10 s, every thermostat every minute.
        let meters = last_by_series
            .keys()
            .filter(|k| k.starts_with("energy,"))
            .count();
        let rooms = last_by_series
            .keys()
            .filter(|k| k.starts_with("climate,"))
            .count();
        assert_eq!(counts["energy"], meters * 8640);
        assert_eq!(counts["climate"], rooms * 1440);
        assert!((6..=12).contains(&rooms), "{rooms} rooms");
        assert!(counts["motion"] > 50, "{counts:?}");
        assert_eq!(summary.lines as usize, body.lines().count());
    }

    #[test]
    fn dirt_is_present_and_counted() {
        let (body, summary) = run(&config(UseCase::SmartHome, 20, 2 * DAY_NS, 1));
        let d = &summary.dirt;
        assert!(d.outages > 0 && d.late > 0 && d.duplicates > 0, "{d:?}");
        assert!(
            d.counter_resets > 0 && d.offline_gaps > 0 && d.firmware_updates > 0,
            "{d:?}"
        );
        assert!(d.malformed > 0, "{d:?}");

        let mut malformed = 0;
        let mut max_ts = i64::MIN;
        let mut max_lateness = 0;
        let mut late = 0;
        let mut seen = HashSet::new();
        let mut duplicates = 0;
        let mut last_kwh: HashMap<&str, f64> = HashMap::new();
        let mut resets = 0;
        let mut valve = 0;
        let mut offline = 0;
        for line in body.lines() {
            let Some(p) = parse(line) else {
                malformed += 1;
                continue;
            };
            if p.ts < max_ts {
                late += 1;
                max_lateness = max_lateness.max(max_ts - p.ts);
            }
            max_ts = max_ts.max(p.ts);
            if !seen.insert(line) {
                duplicates += 1;
            }
            if p.measurement == "energy" {
                let kwh: f64 = field(&p, "import_kwh")
                    .and_then(|v| v.parse().ok())
                    .expect(line);
                if last_kwh.insert(p.key, kwh).is_some_and(|prev| kwh < prev) {
                    resets += 1;
                }
            }
            if field(&p, "valve_pct").is_some() {
                valve += 1;
            }
            if p.measurement == "device_status" && field(&p, "online") == Some("false") {
                offline += 1;
            }
        }
        assert_eq!(malformed, d.malformed);
        assert_eq!(duplicates, d.duplicates);
        assert!(late > 0 && late <= d.late + d.duplicates, "{late} vs {d:?}");
        assert!(
            max_lateness > 30 * MINUTE_NS
                && max_lateness <= OUTAGE_LENGTH_NS.1 + RESEND_WINDOW_NS + TICK_NS
        );
        // A late line can also make a counter look reset, so only a lower bound.
        assert!(resets >= d.counter_resets, "{resets} vs {d:?}");
        assert!(valve > 0 && offline > 0);
        assert!(
            d.malformed * 20_000 >= summary.points && d.malformed * 4_000 <= summary.points + 4_000
        );
    }

    #[test]
    fn tiny_dirty_sets_have_every_kind_of_dirt() {
        let (_, summary) = run(&config(UseCase::SmartHome, 1, 6 * HOUR_NS, 3));
        let d = &summary.dirt;
        assert!(
            d.outages == 1 && d.counter_resets == 1 && d.firmware_updates == 1,
            "{d:?}"
        );
        assert!(d.malformed >= 1);
    }

    #[test]
    fn dirt_off_keeps_the_readings() {
        let c = config(UseCase::SmartHome, 4, DAY_NS, 9);
        let (dirty, _) = run(&c);
        let (clean, _) = run(&GenerateConfig { dirty: false, ..c });
        let clean: HashSet<&str> = clean.lines().collect();
        // Climate and motion readings are the same with and without dirt
        // (minus the ones lost in gaps and the valve_pct field).
        for line in dirty
            .lines()
            .filter(|l| l.starts_with("motion,") || l.starts_with("climate,"))
        {
            if parse(line).is_some() && !line.contains("valve_pct") {
                assert!(clean.contains(line), "{line}");
            }
        }
    }
}
