package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Record is one packet of a capture, reduced to what fwd needs: the IPv4
// datagram (link header removed), its timestamp and where it was captured.
type Record struct {
	Data      []byte // the IPv4 datagram, or the whole frame when !IPv4
	Timestamp time.Time
	IfName    string // pcapng interface name, "" for pcap
	IPv4      bool   // false: ARP, IPv6, an unknown link type, a runt frame
	SrcMAC    [6]byte
	Broadcast bool // the link-layer destination was broadcast or multicast
	Index     int  // 1-based packet number in the capture
}

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Reader reads pcap and pcapng files with Ethernet (with 802.1Q tags),
// raw IPv4, Linux cooked and BSD loopback link types.
type Reader struct {
	f     *os.File
	src   packetSource
	ng    *pcapgo.NgReader
	link  layers.LinkType
	index int
}

// Open opens a pcap or pcapng file, telling them apart by magic number.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: %s: %w", path, err)
	}
	r.f = f
	return r, nil
}

// NewReader reads a capture from rd.
func NewReader(rd io.Reader) (*Reader, error) {
	br := bufio.NewReader(rd)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a capture file: %w", err)
	}
	r := &Reader{}
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, err
		}
		r.ng, r.src = ng, ng
		return r, nil
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, err
	}
	r.src, r.link = pr, pr.LinkType()
	return r, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// Next returns the next record, or io.EOF at the end. A truncated final
// record ends the capture (io.EOF) rather than failing it, as tcpdump does.
func (r *Reader) Next() (Record, error) {
	data, ci, err := r.src.ReadPacketData()
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Record{}, io.EOF
		}
		return Record{}, err
	}
	r.index++
	rec := Record{Timestamp: ci.Timestamp, Index: r.index}
	link := r.link
	if r.ng != nil {
		if intf, err := r.ng.Interface(ci.InterfaceIndex); err == nil {
			rec.IfName = intf.Name
			link = intf.LinkType
		}
	}
	rec.Data = data
	Strip(&rec, link, data)
	return rec, nil
}

// Strip removes the link header of frame, filling rec.Data, IPv4, SrcMAC and
// Broadcast.
func Strip(rec *Record, link layers.LinkType, frame []byte) {
	rec.Data = frame
	switch link {
	case layers.LinkTypeIPv4:
		rec.IPv4 = true // by definition; the parse stage judges the header
	case layers.LinkTypeRaw, 12: // 12: LINKTYPE_RAW on OpenBSD
		// Raw IP carries IPv4 or IPv6; anything but version 6 goes to the
		// IPv4 parser, which names what is wrong with it.
		rec.IPv4 = len(frame) > 0 && frame[0]>>4 != 6
	case layers.LinkTypeEthernet:
		if len(frame) < 14 {
			return
		}
		copy(rec.SrcMAC[:], frame[6:12])
		rec.Broadcast = frame[0]&1 != 0
		et := binary.BigEndian.Uint16(frame[12:])
		off := 14
		for (et == 0x8100 || et == 0x88a8) && len(frame) >= off+4 {
			et = binary.BigEndian.Uint16(frame[off+2:])
			off += 4
		}
		if et == 0x0800 {
			rec.Data, rec.IPv4 = frame[off:], true
		}
	case layers.LinkTypeLinuxSLL:
		if len(frame) >= 16 && binary.BigEndian.Uint16(frame[14:]) == 0x0800 {
			rec.Data, rec.IPv4 = frame[16:], true
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(frame) >= 4 && (binary.LittleEndian.Uint32(frame) == 2 || binary.BigEndian.Uint32(frame) == 2) {
			rec.Data, rec.IPv4 = frame[4:], true
		}
	}
}

// Writer writes pcapng with one interface block per name, every packet as
// raw IPv4 (LINKTYPE_RAW) on its interface.
type Writer struct {
	w   *pcapgo.NgWriter
	f   io.Closer
	ids map[string]int
}

// Create creates a pcapng file with the given interfaces.
func Create(path string, ifNames []string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w, err := NewWriter(f, ifNames)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.f = f
	return w, nil
}

// NewWriter writes to out. With no names, one interface "fwd" is written.
func NewWriter(out io.Writer, ifNames []string) (*Writer, error) {
	if len(ifNames) == 0 {
		ifNames = []string{"fwd"}
	}
	mk := func(name string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: name, LinkType: layers.LinkTypeRaw, SnapLength: 0, TimestampResolution: 9, OS: "fwd"}
	}
	w, err := pcapgo.NewNgWriterInterface(out, mk(ifNames[0]), pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "fwd replay"}})
	if err != nil {
		return nil, err
	}
	wr := &Writer{w: w, ids: map[string]int{ifNames[0]: 0}}
	for _, n := range ifNames[1:] {
		id, err := w.AddInterface(mk(n))
		if err != nil {
			return nil, err
		}
		wr.ids[n] = id
	}
	return wr, nil
}

// Write writes one datagram on interface ifName at ts.
func (w *Writer) Write(ifName string, ts time.Time, datagram []byte) error {
	id, ok := w.ids[ifName]
	if !ok {
		return fmt.Errorf("capture: no interface %q in the output", ifName)
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(datagram), Length: len(datagram), InterfaceIndex: id}
	return w.w.WritePacket(ci, datagram)
}

// Close flushes and closes.
func (w *Writer) Close() error {
	err := w.w.Flush()
	if w.f != nil {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// ReadAll reads every record of a capture in memory (for tests and small
// files); the data slices are copies.
func ReadAll(path string) ([]Record, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec.Data = bytes.Clone(rec.Data)
		out = append(out, rec)
	}
}
