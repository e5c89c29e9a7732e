package corpus

import (
	"fmt"
	"time"

	"github.com/xuri/excelize/v2"
)

// Workbook sheets.
const (
	HiddenSheet = "Lookup" // first, hidden: not the default
	MainSheet   = "Export" // the first visible sheet
	OtherSheet  = "Other"  // a second visible sheet
)

// SheetRow is one data row of the main sheet as Excel displays it.
type SheetRow struct {
	Row    int64    // sheet row number
	Values []string // the displayed text of each header column
}

// MainHeader is the main sheet's header (row 3). The Notes header cell is
// merged over two columns; the second reads as column_I.
func MainHeader() []string {
	return []string{"Email", "First Name", "Last Name", "Company", "Customer No", "Signed Up", "Revenue", "Notes", "column_I"}
}

// MainRows are the main sheet's data rows as displayed: customer numbers
// with leading zeros (a number formatted 000000, and text), dates
// formatted yyyy-mm-dd, amounts #,##0.00. Row 6 is blank and skipped.
func MainRows() []SheetRow {
	return []SheetRow{
		{4, []string{"valid.hans@mueller-soehne.de", "Hans", "Müller", "Müller & Söhne GmbH", "001234", "2026-03-15", "1,234.50", "Weiß", ""}},
		{5, []string{"bounce.bjorn@orsted.dk", "Björn", "Ærø", "Ørsted", "000789", "2025-12-01", "0.00", "", "x"}},
		{7, []string{"unknown.pierre@flore.fr", "Pierre", "Dupont", "Café de Flore", "042000", "2024-02-29", "99,999.99", "« guillemets »", ""}},
	}
}

// OtherRows are the second sheet's rows (header Email, Name at row 1).
func OtherRows() []SheetRow {
	return []SheetRow{{2, []string{"valid.other@example.com", "Other One"}}}
}

// WriteWorkbook writes the corpus workbook to path.
func WriteWorkbook(path string) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", HiddenSheet); err != nil {
		return err
	}
	main, err := f.NewSheet(MainSheet)
	if err != nil {
		return err
	}
	if _, err := f.NewSheet(OtherSheet); err != nil {
		return err
	}
	f.SetActiveSheet(main)
	if err := f.SetSheetVisible(HiddenSheet, false); err != nil {
		return err
	}
	set := func(sheet, cell string, v any) {
		if err == nil {
			err = f.SetCellValue(sheet, cell, v)
		}
	}
	set(HiddenSheet, "A1", "code")
	set(HiddenSheet, "A2", "hidden@example.com")

	set(MainSheet, "A1", "Contact export — December 2026")
	if err == nil {
		err = f.MergeCell(MainSheet, "A1", "G1")
	}
	for i, h := range MainHeader()[:8] {
		cell, _ := excelize.CoordinatesToCellName(i+1, 3)
		set(MainSheet, cell, h)
	}
	if err == nil {
		err = f.MergeCell(MainSheet, "H3", "I3")
	}
	zeros, err2 := f.NewStyle(&excelize.Style{CustomNumFmt: strPtr("000000")})
	date, err3 := f.NewStyle(&excelize.Style{CustomNumFmt: strPtr("yyyy-mm-dd")})
	money, err4 := f.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
	if err == nil {
		err = firstErr(err2, err3, err4)
	}
	type raw struct {
		row                    int
		email, first, last, co string
		no                     any
		signed                 time.Time
		revenue                float64
		note, extra            string
	}
	rows := []raw{
		{4, "valid.hans@mueller-soehne.de", "Hans", "Müller", "Müller & Söhne GmbH", 1234, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), 1234.5, "Weiß", ""},
		{5, "bounce.bjorn@orsted.dk", "Björn", "Ærø", "Ørsted", "000789", time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), 0, "", "x"},
		{7, "unknown.pierre@flore.fr", "Pierre", "Dupont", "Café de Flore", 42000, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), 99999.99, "« guillemets »", ""},
	}
	for _, r := range rows {
		c := func(col string) string { return fmt.Sprintf("%s%d", col, r.row) }
		set(MainSheet, c("A"), r.email)
		set(MainSheet, c("B"), r.first)
		set(MainSheet, c("C"), r.last)
		set(MainSheet, c("D"), r.co)
		set(MainSheet, c("E"), r.no)
		set(MainSheet, c("F"), r.signed)
		set(MainSheet, c("G"), r.revenue)
		if r.note != "" {
			set(MainSheet, c("H"), r.note)
		}
		if r.extra != "" {
			set(MainSheet, c("I"), r.extra)
		}
		if err == nil {
			err = firstErr(f.SetCellStyle(MainSheet, c("E"), c("E"), zeros),
				f.SetCellStyle(MainSheet, c("F"), c("F"), date),
				f.SetCellStyle(MainSheet, c("G"), c("G"), money))
		}
	}
	set(OtherSheet, "A1", "Email")
	set(OtherSheet, "B1", "Name")
	set(OtherSheet, "A2", "valid.other@example.com")
	set(OtherSheet, "B2", "Other One")
	if err != nil {
		return fmt.Errorf("corpus: build workbook: %w", err)
	}
	if err := f.SaveAs(path); err != nil {
		return fmt.Errorf("corpus: save workbook: %w", err)
	}
	return nil
}

func strPtr(s string) *string { return &s }

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
