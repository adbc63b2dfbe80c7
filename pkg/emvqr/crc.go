package emvqr

// CRC16 returns the CRC-16/CCITT-FALSE of data (poly 0x1021, init 0xFFFF,
// no reflection, xorout 0), the checksum used by EMV QR codes.
// CRC16([]byte("123456789")) == 0x29B1.
func CRC16(data []byte) uint16 {
	return crcUpdate(0xFFFF, data)
}

var crcTable = func() (t [256]uint16) {
	for i := range 256 {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crcUpdate[T ~string | ~[]byte](crc uint16, data T) uint16 {
	for i := 0; i < len(data); i++ {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^data[i]]
	}
	return crc
}

const upperHex = "0123456789ABCDEF"

func appendHex4(b []byte, v uint16) []byte {
	return append(b, upperHex[v>>12], upperHex[v>>8&0xF], upperHex[v>>4&0xF], upperHex[v&0xF])
}

// parseHex4 parses exactly four hex digits. lower reports whether any of
// them is a lower-case letter.
func parseHex4(s string) (v uint16, lower, ok bool) {
	if len(s) != 4 {
		return 0, false, false
	}
	for i := 0; i < 4; i++ {
		c := s[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
			lower = true
		default:
			return 0, false, false
		}
		v = v<<4 | uint16(d)
	}
	return v, lower, true
}
