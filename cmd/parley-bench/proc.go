package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ProcSample is what is read of a process at one moment.
type ProcSample struct {
	At      time.Time
	CPU     time.Duration // user + system time since the process started
	RSS     int64         // resident set size, bytes (VmRSS)
	RSSAnon int64         // anonymous resident memory, bytes (RssAnon): heap, stacks, not the binary's pages
	Threads int
}

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ).
var clockTicks = readClockTicks()

// readClockTicks reads AT_CLKTCK from this process's auxiliary vector; it is
// 100 on every Linux architecture in practice, which is the fallback.
func readClockTicks() int64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	return parseAuxvClockTicks(b)
}

const atClkTck = 17 // AT_CLKTCK in <elf.h>

func parseAuxvClockTicks(b []byte) int64 {
	for len(b) >= 16 {
		typ := binary.NativeEndian.Uint64(b)
		val := binary.NativeEndian.Uint64(b[8:])
		b = b[16:]
		if typ == 0 {
			break
		}
		if typ == atClkTck && val > 0 {
			return int64(val)
		}
	}
	return 100
}

// SampleProc reads /proc/PID/stat and /proc/PID/status.
func SampleProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.CPU, err = parseStatCPU(stat, clockTicks); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	st, err := parseStatus(status)
	if err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	s.RSS, s.RSSAnon, s.Threads = st.rss, st.rssAnon, st.threads
	return s, nil
}

// SampleSelf samples this process.
func SampleSelf() (ProcSample, error) { return SampleProc(os.Getpid()) }

// parseStatCPU returns utime+stime from the contents of /proc/PID/stat. The
// command name (field 2) is in parentheses and may itself contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(b []byte, ticks int64) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("too few fields")
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	if ticks <= 0 {
		ticks = 100
	}
	total := ut + st
	return time.Duration(total/ticks)*time.Second + time.Duration(total%ticks)*time.Second/time.Duration(ticks), nil
}

type status struct {
	rss, rssAnon int64
	threads      int
}

// parseStatus reads VmRSS, RssAnon (bytes) and Threads from /proc/PID/status.
func parseStatus(b []byte) (status, error) {
	var s status
	found := false
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(key) {
		case "VmRSS":
			n, err := parseKB(val)
			if err != nil {
				return s, fmt.Errorf("field VmRSS: %w", err)
			}
			s.rss, found = n, true
		case "RssAnon":
			n, err := parseKB(val)
			if err != nil {
				return s, fmt.Errorf("field RssAnon: %w", err)
			}
			s.rssAnon = n
		case "Threads":
			n, err := strconv.Atoi(string(bytes.TrimSpace(val)))
			if err != nil {
				return s, fmt.Errorf("field Threads: %w", err)
			}
			s.threads = n
		}
	}
	if !found {
		return s, errors.New("no VmRSS (a kernel thread, or a zombie?)")
	}
	return s, nil
}

// parseKB parses "   1234 kB" into bytes.
func parseKB(v []byte) (int64, error) {
	f := bytes.Fields(v)
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0, fmt.Errorf("unexpected value %q", bytes.TrimSpace(v))
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0, err
	}
	return n * 1024, nil
}

// MachineSample is the CPU time of the whole machine, all CPUs together.
type MachineSample struct {
	Busy time.Duration // user, nice, system, irq, softirq, steal
	Idle time.Duration // idle and iowait
}

// SampleMachine reads the first line of /proc/stat.
func SampleMachine() (MachineSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineSample{}, err
	}
	return parseProcStat(b, clockTicks)
}

func parseProcStat(b []byte, ticks int64) (MachineSample, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return MachineSample{}, errors.New("/proc/stat: no cpu line")
	}
	var v [8]int64 // user nice system idle iowait irq softirq steal
	for i := range v {
		n, err := strconv.ParseInt(string(f[i+1]), 10, 64)
		if err != nil {
			return MachineSample{}, fmt.Errorf("/proc/stat: %w", err)
		}
		v[i] = n
	}
	if ticks <= 0 {
		ticks = 100
	}
	d := func(n int64) time.Duration { return time.Duration(n) * time.Second / time.Duration(ticks) }
	return MachineSample{
		Busy: d(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]),
		Idle: d(v[3] + v[4]),
	}, nil
}
